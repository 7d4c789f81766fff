"""Unpacking a plugin archive safely: every member checked before anything is written.

An uploaded ``.tar.gz`` is an attack surface. Refused, each with a 400 and a stable code, and
nothing left on disk: absolute paths, ``..``, symlinks or hard links pointing outside the plugin,
device files and FIFOs, more than ``plugins.max_archive_files`` entries, more than
``plugins.max_archive_bytes`` unpacked, a missing or invalid ``plugin.yaml``. The archive is
unpacked into a temporary folder inside the runtime dir (same filesystem) and moved into
``<runtime.dir>/plugins/<name>`` with one ``os.replace``.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path

from aman.errors import ConflictError, InvalidInputError
from aman.plugins.manifest import MANIFEST, Manifest, load_manifest
from aman.plugins.records import Limits


class ArchiveError(InvalidInputError):
    """A plugin archive was refused; ``code`` says why."""

    code = "plugin_archive_invalid"
    hint = "Send a .tar.gz holding plugin.yaml and the plugin's module (docs/plugins.md)."


def _inside(name: str) -> bool:
    """Whether a relative archive path stays inside the archive root."""
    normal = posixpath.normpath(name)
    return not (normal == ".." or normal.startswith("../") or posixpath.isabs(normal))


def check_members(tar: tarfile.TarFile, limits: Limits) -> list[tarfile.TarInfo]:
    """Every member, or ``ArchiveError`` for the first one that is not allowed."""
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        members.append(member)
        if len(members) > limits.max_files:
            raise ArchiveError(f"the archive holds more than {limits.max_files} entries",
                               code="plugin_archive_too_many_files")
        name = member.name
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise ArchiveError(f"entry {name!r} has an absolute path",
                               code="plugin_archive_absolute_path")
        if ".." in name.replace("\\", "/").split("/"):
            raise ArchiveError(f"entry {name!r} contains '..'",
                               code="plugin_archive_path_traversal")
        if member.issym() or member.islnk():
            target = member.linkname
            resolved = (posixpath.join(posixpath.dirname(name), target) if member.issym()
                        else target)
            if posixpath.isabs(target) or not _inside(resolved):
                raise ArchiveError(f"link {name!r} -> {target!r} points outside the plugin",
                                   code="plugin_archive_link_escape")
        elif not (member.isfile() or member.isdir()):
            raise ArchiveError(f"entry {name!r} is a device file, FIFO or other special file",
                               code="plugin_archive_special_file")
        total += max(0, member.size)
        if total > limits.max_bytes:
            raise ArchiveError(f"the archive unpacks to more than {limits.max_bytes} bytes",
                               code="plugin_archive_too_large")
    if not members:
        raise ArchiveError("the archive is empty")
    return members


def _plugin_root(unpacked: Path) -> Path:
    """The folder holding plugin.yaml: the archive root or its single top-level folder."""
    if (unpacked / MANIFEST).is_file():
        return unpacked
    entries = [p for p in unpacked.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        if (entries[0] / MANIFEST).is_file():
            return entries[0]
    raise ArchiveError(f"the archive has no {MANIFEST} at its root or in its one top folder",
                       code="plugin_manifest_missing")


def install_archive(data: bytes, *, install_dir: Path, scratch_dir: Path, limits: Limits,
                    taken: set[str]) -> tuple[Manifest, Path]:
    """Check, unpack and move one archive into ``install_dir/<name>``; return its manifest and path.

    ``taken`` holds the names of known plugins (a clash is 409). Nothing stays on disk on error.
    """
    if len(data) > limits.max_bytes:
        raise ArchiveError(f"the archive is larger than {limits.max_bytes} bytes",
                           code="plugin_archive_too_large")
    scratch_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".plugin-install-", dir=scratch_dir))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                members = check_members(tar, limits)
                unpacked = staging / "unpacked"
                unpacked.mkdir()
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpacked, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tar.extractall(unpacked, members=members)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, ArchiveError):
                raise
            raise ArchiveError(f"not a readable .tar.gz archive: {exc}") from None
        root = _plugin_root(unpacked)
        try:
            manifest = load_manifest(root)
        except InvalidInputError as exc:  # report the archive, not the temp path
            raise ArchiveError(exc.message.replace(str(root), "<archive>"),
                               code=exc.code) from None
        target = install_dir / manifest.name
        if manifest.name in taken or target.exists():
            raise ConflictError(f"a plugin named {manifest.name!r} already exists",
                                code="plugin_exists",
                                hint="Uninstall it first (POST /plugin/{name}/uninstall).")
        install_dir.mkdir(parents=True, exist_ok=True)
        os.replace(root, target)
        return manifest, target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_folder(folder: Path, scratch_dir: Path) -> None:
    """Delete an installed plugin's folder: first moved aside atomically, then removed."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=".plugin-remove-", dir=scratch_dir))
    os.replace(folder, aside / "plugin")
    shutil.rmtree(aside, ignore_errors=True)
