"""Build plugin .tar.gz archives (good and malicious) in memory for the install tests."""

from __future__ import annotations

import io
import tarfile

MANIFEST = b"name: {name}\nversion: '0.3.0'\nmodule: main.py\n"
MODULE = b'''
from aman.plugins.api import PluginRoute, hookimpl


@hookimpl
def register_routes(context):
    return [PluginRoute("GET", "/hi", lambda request: {"hi": request.plugin})]
'''
RAISING_MODULE = b'''
from aman.plugins.api import hookimpl


@hookimpl
def register_routes(context):
    raise RuntimeError("installed plugin exploded")
'''


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)


def archive(*, name: str = "installed_one", prefix: str = "", manifest: bytes | None = None,
            module: bytes = MODULE, extra: list[tuple[str, bytes]] | None = None,
            specials: list[tuple[str, bytes, str]] | None = None) -> bytes:
    """A .tar.gz with plugin.yaml and main.py under ``prefix``, plus extra entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if manifest is None:
            manifest = MANIFEST.replace(b"{name}", name.encode())
        if manifest:
            add_file(tar, f"{prefix}plugin.yaml", manifest)
        add_file(tar, f"{prefix}main.py", module)
        for entry, data in extra or []:
            add_file(tar, entry, data)
        for entry, kind, link in specials or []:
            add_special(tar, entry, kind, link)
    return buffer.getvalue()
