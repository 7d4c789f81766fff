"""Tools through the real daemon: write then read, a path escape refused, a .env write blocked."""

from __future__ import annotations

import pytest

from tests.e2e.daemons import Daemon

pytestmark = pytest.mark.e2e


def test_write_then_read_a_file(daemon: Daemon) -> None:
    http = daemon.client
    listed = http.get("/tools").json()["items"]
    assert {"read", "write", "edit", "list", "find", "grep",
            "read_skill"} <= {t["name"] for t in listed}
    wrote = http.post("/tools/write/execute",
                      json={"path": "notes/today.md", "content": "# Today\nship tools\n"})
    assert wrote.status_code == 200, wrote.text
    assert (daemon.home / "workspace" / "notes" / "today.md").read_text() == "# Today\nship tools\n"
    read = http.post("/tools/read/execute", json={"path": "notes/today.md"})
    assert read.status_code == 200 and read.json()["output"] == "# Today\nship tools\n"
    found = http.post("/tools/grep/execute", json={"pattern": "ship"}).json()
    assert found["output"]["matches"] == [{"path": "notes/today.md", "line": 2,
                                           "text": "ship tools"}]


def test_a_path_escape_is_refused(daemon: Daemon) -> None:
    response = daemon.client.post("/tools/write/execute",
                                  json={"path": "../escaped.txt", "content": "x"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "path_not_allowed"
    assert not (daemon.home / "escaped.txt").exists()


def test_an_env_write_is_blocked_and_audited(daemon: Daemon) -> None:
    http = daemon.client
    response = http.post("/tools/write/execute", json={"path": ".env", "content": "TOKEN=1"})
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "tool_blocked" and error["details"]["rule"]
    assert not (daemon.home / "workspace" / ".env").exists()
    blocked = http.get("/audit-log", params={"action": "tool.blocked"}).json()["items"]
    assert blocked and blocked[0]["target"] == "tool:write"
