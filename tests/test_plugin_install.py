"""POST /plugin/install and /uninstall: every unsafe archive is 400 with nothing left on disk."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from werkzeug.datastructures import FileStorage

from tests.helpers import SettingsFactory
from tests.plugin_archives import RAISING_MODULE, archive
from tests.test_plugins import copy_plugins, served


@pytest.fixture
async def app(make_settings: SettingsFactory, tmp_path: Path) -> AsyncIterator[Quart]:
    bundled = copy_plugins(tmp_path / "bundled", "good")
    settings = make_settings(plugins__dirs=[str(bundled)], plugins__max_archive_bytes=4096,
                             plugins__max_archive_files=6)
    async with served(settings) as application:
        yield application


async def upload(app: Quart, data: bytes, field: str = "plugin",
                 filename: str = "plugin.tar.gz") -> Any:
    files = {field: FileStorage(io.BytesIO(data), filename=filename,
                                content_type="application/gzip")}
    return await app.test_client().post("/plugin/install", files=files)


def leftovers(runtime_dir: Path) -> list[str]:
    """Anything an install could have written: plugin folders and temp folders."""
    found = [p.name for p in runtime_dir.iterdir() if p.name.startswith(".plugin-")]
    plugins = runtime_dir / "plugins"
    if plugins.is_dir():
        found += [p.name for p in plugins.iterdir()]
    return found


MALICIOUS = {
    "absolute path": (archive(extra=[("/tmp/aman-evil.py", b"x")]), "plugin_archive_absolute_path"),
    "dot dot": (archive(extra=[("../evil.py", b"x")]), "plugin_archive_path_traversal"),
    "nested dot dot": (archive(prefix="p/", extra=[("p/../../evil.py", b"x")]),
                       "plugin_archive_path_traversal"),
    "symlink escaping": (archive(specials=[("passwd", tarfile.SYMTYPE, "../../etc/passwd")]),
                         "plugin_archive_link_escape"),
    "absolute symlink": (archive(specials=[("passwd", tarfile.SYMTYPE, "/etc/passwd")]),
                         "plugin_archive_link_escape"),
    "hardlink escaping": (archive(specials=[("hard", tarfile.LNKTYPE, "../outside")]),
                          "plugin_archive_link_escape"),
    "device file": (archive(specials=[("null", tarfile.CHRTYPE, "")]),
                    "plugin_archive_special_file"),
    "fifo": (archive(specials=[("pipe", tarfile.FIFOTYPE, "")]), "plugin_archive_special_file"),
    "too big": (archive(extra=[("big.bin", b"\0" * 5000)]), "plugin_archive_too_large"),
    "too many files": (archive(extra=[(f"f{i}.txt", b"x") for i in range(6)]),
                       "plugin_archive_too_many_files"),
    "missing manifest": (archive(manifest=b""), "plugin_manifest_missing"),
    "invalid manifest": (archive(manifest=b"name: x\n"), "plugin_manifest_invalid"),
    "module missing": (archive(manifest=b"name: x\nversion: '1'\nmodule: gone.py\n"),
                       "plugin_manifest_invalid"),
    "not a tarball": (b"just some bytes", "plugin_archive_invalid"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
async def test_unsafe_archive_is_refused_and_nothing_is_written(app: Quart, runtime_dir: Path,
                                                                 case: str) -> None:
    data, code = MALICIOUS[case]
    response = await upload(app, data)
    body = await response.get_json()
    assert response.status_code == 400, body
    assert body["error"]["code"] == code and body["error"]["message"]
    assert leftovers(runtime_dir) == []
    assert not Path("/tmp/aman-evil.py").exists()


async def test_missing_field_is_400(app: Quart) -> None:
    response = await upload(app, archive(), field="other", filename="notes.txt")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "plugin_archive_missing"


async def test_any_tar_gz_file_field_is_accepted(app: Quart) -> None:
    response = await upload(app, archive(), field="file")
    assert response.status_code == 200


async def test_install_serves_the_route_and_uninstall_removes_it(app: Quart,
                                                                 runtime_dir: Path) -> None:
    client = app.test_client()
    response = await upload(app, archive(prefix="installed_one/"))
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["plugin_name"] == "installed_one" and body["version"] == "0.3.0"
    assert body["state"] == "enabled"
    assert Path(body["install_dir"]) == runtime_dir / "plugins" / "installed_one"
    hi = await client.get("/api/v1/installed_one/hi")
    assert await hi.get_json() == {"hi": "installed_one"}
    listed = {i["name"]: i for i in (await (await client.get("/plugins")).get_json())["items"]}
    assert listed["installed_one"]["source"] == "installed"

    again = await upload(app, archive())
    assert again.status_code == 409 and (await again.get_json())["error"]["code"] == "plugin_exists"

    removed = await client.post("/plugin/installed_one/uninstall")
    assert removed.status_code == 200
    assert (await client.get("/api/v1/installed_one/hi")).status_code == 404
    assert leftovers(runtime_dir) == []
    names = {i["name"] for i in (await (await client.get("/plugins")).get_json())["items"]}
    assert "installed_one" not in names


async def test_installed_plugin_that_raises_is_failed(app: Quart) -> None:
    response = await upload(app, archive(name="bad_one", module=RAISING_MODULE))
    body = await response.get_json()
    assert response.status_code == 200 and body["state"] == "failed"
    assert "installed plugin exploded" in body["error"]


async def test_bundled_plugin_cannot_be_uninstalled(app: Quart, tmp_path: Path) -> None:
    response = await app.test_client().post("/plugin/good/uninstall")
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "plugin_not_removable"
    assert (tmp_path / "bundled" / "good" / "plugin.yaml").is_file()
    assert (await app.test_client().post("/plugin/nobody/uninstall")).status_code == 404


async def test_name_of_a_bundled_plugin_is_409(app: Quart, runtime_dir: Path) -> None:
    response = await upload(app, archive(name="good"))
    assert response.status_code == 409 and leftovers(runtime_dir) == []
