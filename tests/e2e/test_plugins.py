"""Plugins through the real daemon: install, route under /api/v1, disable, uninstall, isolation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.daemons import REPO_ROOT, StartDaemon
from tests.plugin_archives import archive

pytestmark = pytest.mark.e2e

SAMPLES = REPO_ROOT / "tests" / "plugins"


def plugin_dirs(tmp_path: Path, *names: str) -> list[str]:
    folder = tmp_path / "sample_plugins"
    for name in names:
        shutil.copytree(SAMPLES / name, folder / name)
    return [str(REPO_ROOT / "plugins"), str(folder)]


def test_install_serve_disable_uninstall(start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={"plugins": {"dirs": plugin_dirs(tmp_path, "good")}})
    client = daemon.client
    files = {"plugin": ("installed_one.tar.gz", archive(prefix="installed_one/"),
                        "application/gzip")}
    installed = client.post("/plugin/install", files=files)
    assert installed.status_code == 200, installed.text
    folder = Path(installed.json()["install_dir"])
    assert folder == daemon.home / "plugins" / "installed_one" and folder.is_dir()
    assert client.get("/api/v1/installed_one/hi").json() == {"hi": "installed_one"}

    assert client.post("/plugin/installed_one/disable").status_code == 409  # no confirmation
    assert client.get("/api/v1/installed_one/hi").status_code == 200
    disabled = client.post("/plugin/installed_one/disable", headers={"x-aman-confirm": "yes"})
    assert disabled.status_code == 200 and disabled.json()["state"] == "disabled"
    gone = client.get("/api/v1/installed_one/hi")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"

    assert client.post("/plugin/installed_one/uninstall").status_code == 200
    assert not folder.exists()
    assert client.post("/plugin/good/uninstall").status_code == 409  # bundled


def test_malicious_archive_is_refused_with_nothing_written(start_daemon: StartDaemon,
                                                           tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={"plugins": {"dirs": plugin_dirs(tmp_path)}})
    files = {"plugin": ("evil.tar.gz", archive(extra=[("../evil.py", b"x")]), "application/gzip")}
    response = daemon.client.post("/plugin/install", files=files)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "plugin_archive_path_traversal"
    plugins = daemon.home / "plugins"
    assert not plugins.exists() or list(plugins.iterdir()) == []
    assert not [p for p in daemon.home.iterdir() if p.name.startswith(".plugin-")]
    assert not (daemon.home / "evil.py").exists()


def test_failing_plugin_is_failed_while_ready(start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = start_daemon(token="plugin-e2e-token", extra_config={
        "plugins": {"dirs": plugin_dirs(tmp_path, "good", "raising")}})
    auth = daemon.auth
    assert daemon.client.get("/health/ready").status_code == 200
    items = {i["name"]: i for i in daemon.client.get("/plugins", headers=auth).json()["items"]}
    assert items["raising"]["state"] == "failed"
    assert "register_routes exploded on purpose" in items["raising"]["error"]
    assert items["good"]["state"] == "enabled"
    assert daemon.client.get("/api/v1/good/ping").status_code == 401
    assert daemon.client.get("/api/v1/good/ping", headers=auth).json() == {"pong": True}
    assert daemon.client.get("/api/v1/good/open").status_code == 200  # public plugin route
    assert daemon.client.get("/api/v1/good/boom", headers=auth).status_code == 500
    assert daemon.client.get("/health/ready").status_code == 200


def test_example_plugin_page_on_ui_pages(start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={"plugins": {"dirs": plugin_dirs(tmp_path)}})
    client = daemon.client
    assert client.get("/ui/pages").json() == {"items": []}  # disabled by default
    assert client.post("/plugin/example/enable").status_code == 200
    assert {"id": "example", "label": "Example",
            "plugin": "example"} in client.get("/ui/pages").json()["items"]
    assert client.get("/api/v1/example/hello").json() == {"hello": "world", "plugin": "example"}
    sources = {s["id"]: s for s in client.get("/event-sources").json()["items"]}
    assert sources["example.tick"]["state"] == "running"
