"""MCP through the real daemon: the PyPI time and git servers in a chat turn with approvals, a
pasted Claude Desktop file, broken servers beside a ready daemon, no process left after
shutdown, and ``aman mcp serve`` driven by the SDK's own client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.e2e.daemons import REPO_ROOT, TEST_TOKEN, Daemon, StartDaemon, clean_env
from tests.e2e.test_agent_tools import calls, finished_reply, scripted
from tests.helpers import wait_for_sync
from tests.mcp.helpers import marked, new_mark, processes_with, time_server

pytestmark = pytest.mark.e2e


def git_repo(path: Path) -> Path:
    """A repository with one committed file and one untracked file."""
    path.mkdir()
    for argv in (["init", "-q"], ["config", "user.email", "t@example.invalid"],
                 ["config", "user.name", "t"]):
        subprocess.run(["git", *argv], cwd=path, check=True)
    (path / "a.txt").write_text("a")
    subprocess.run(["git", "add", "a.txt"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "first"], cwd=path, check=True)
    (path / "untracked-note.md").write_text("new")
    return path


def wait_servers(daemon: Daemon, wanted: dict[str, str], timeout: float = 90) -> dict[str, Any]:
    """Poll GET /mcp/servers until each named server is in the wanted state."""

    def servers_in_state() -> dict[str, Any] | None:
        answer = daemon.client.get("/mcp/servers", headers=daemon.auth)
        assert answer.status_code == 200, answer.text
        servers = {s["name"]: s for s in answer.json()["items"]}
        done = all(servers.get(n, {}).get("state") == s for n, s in wanted.items())
        return servers if done else None

    return wait_for_sync(servers_in_state, timeout, what=f"MCP servers to be {wanted}")


def approve_next(daemon: Daemon, tool: str, timeout: float = 30) -> None:
    """Approve the first pending request for ``tool``."""

    def asked() -> str | None:
        pending = daemon.client.get("/tool-auth/pending", headers=daemon.auth).json()["items"]
        return next((p["auth_id"] for p in pending if p["tool_name"] == tool), None)

    auth_id = wait_for_sync(asked, timeout, what=f"an approval request for {tool}")
    answer = daemon.client.post("/tool-auth/respond", headers=daemon.auth,
                                json={"auth_id": auth_id, "approved": True})
    assert answer.status_code == 200, answer.text


def test_a_chat_turn_calls_time_and_git_through_approvals(start_daemon: StartDaemon,
                                                          tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    daemon = start_daemon(extra_config={
        **scripted(calls("mcp__time__get_current_time", timezone="Asia/Tokyo"),
                   "Time: {tool_result}",
                   calls("mcp__git__git_status", repo_path=str(repo)), "Git: {tool_result}"),
        "mcp": {"servers": {
            "time": time_server(),
            "git": {"command": sys.executable,
                    "args": ["-m", "mcp_server_git", "--repository", str(repo)]}}}})
    servers = wait_servers(daemon, {"time": "ready", "git": "ready"})
    assert servers["git"]["tools"] > 5
    tools = daemon.client.get("/mcp/servers/git/tools").json()["items"]
    assert "mcp__git__git_status" in {t["name"] for t in tools}
    session = daemon.client.post("/chat/session/create", json={}).json()["id"]
    sent = daemon.client.post(f"/chat/session/{session}/send", json={"text": "time in Tokyo?"})
    assert sent.status_code == 202, sent.text
    approve_next(daemon, "mcp__time__get_current_time")
    reply = finished_reply(daemon, session, timeout=60)
    assert reply["status"] == "complete", reply
    assert '"timezone": "Asia/Tokyo"' in reply["content"]
    daemon.client.post(f"/chat/session/{session}/send", json={"text": "git status?"})
    approve_next(daemon, "mcp__git__git_status")

    def git_reply() -> dict[str, Any] | None:
        last = finished_reply(daemon, session, timeout=60)
        return last if "Git:" in last["content"] else None

    reply = wait_for_sync(git_reply, 60, what="the reply that carries the git status")
    assert "untracked-note.md" in reply["content"]
    assert reply["tool_steps"][0]["results"][0]["status"] == "success"


def test_broken_servers_leave_readiness_alone_and_show_failed(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(extra_config={"mcp": {"servers": {
        "quits": {"command": sys.executable, "args": ["-c", "raise SystemExit('bad flags')"]},
        "silent": {"command": sys.executable, "args": ["-c", "import time; time.sleep(600)"],
                   "connect_timeout_sec": 2},
        "nobinary": {"command": "/no/such/server"},
        "needs_key": {"command": "x", "env": {"API_KEY": "${AMAN_TEST_UNSET_KEY}"}},
        "sneaky": {"command": sys.executable, "env": {"NODE_OPTIONS": "--require evil.js"}}}}})
    status = daemon.client.get("/runtime/status").json()
    step = next(s for p in status["phases"] for s in p["steps"] if s["name"] == "mcp")
    assert step["duration_ms"] < 500
    servers = wait_servers(daemon, {name: "failed" for name in
                                    ("quits", "silent", "nobinary", "needs_key", "sneaky")})
    assert "bad flags" in servers["quits"]["last_error"]
    assert "connect_timeout_sec" in servers["silent"]["last_error"]
    assert "No such file" in servers["nobinary"]["last_error"]
    assert "mcp.servers.needs_key.env.API_KEY" in servers["needs_key"]["last_error"]
    assert "NODE_OPTIONS" in servers["sneaky"]["last_error"]
    caps = daemon.client.get("/capabilities").json()
    assert caps["mcp:quits"][0]["status"] == "error"
    assert daemon.client.get("/mcp/servers/nope/tools").json()["error"]["code"] == \
        "mcp_server_not_found"
    assert daemon.client.get("/health/ready").status_code == 200


def test_a_pasted_claude_desktop_file_works_unchanged(start_daemon: StartDaemon,
                                                      tmp_path: Path) -> None:
    claude = tmp_path / "claude_desktop_config.json"
    claude.write_text(json.dumps({"mcpServers": {"clock": {
        "command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        "env": {"HOME": "${userHome}"}}}}, indent=2))
    inline = json.loads(claude.read_text())  # the same text pasted under mcp:
    inline["mcpServers"] = {"pasted": inline["mcpServers"]["clock"]}
    daemon = start_daemon(extra_config={"mcp": {**inline, "import": [str(claude)]}})
    servers = wait_servers(daemon, {"clock": "ready", "pasted": "ready"})
    assert servers["clock"]["origin"] == str(claude)
    run = daemon.client.post("/tools/mcp__clock__get_current_time/execute",
                             json={"timezone": "UTC"})
    assert run.status_code == 200, run.text
    assert json.loads(run.json()["output"])["timezone"] == "UTC"


def test_no_server_process_is_left_after_shutdown_or_live_removal(
        start_daemon: StartDaemon) -> None:
    kept, removed = new_mark(), new_mark()
    daemon = start_daemon(extra_config={"mcp": {"servers": {
        "kept": marked(time_server(), kept), "removed": marked(time_server(), removed)}}})
    wait_servers(daemon, {"kept": "ready", "removed": "ready"})
    assert processes_with(kept) and processes_with(removed)
    changed = daemon.client.post("/config/set", headers={"x-aman-confirm": "yes"}, json={
        "changes": {"mcp.servers": {"kept": marked(time_server(), kept)}}})
    assert changed.status_code == 200, changed.text
    wait_for_sync(lambda: not processes_with(removed), 30,
                  what="the removed server's process to exit")
    reconnect = daemon.client.post("/mcp/servers/kept/reconnect")
    assert reconnect.status_code == 200 and reconnect.json()["name"] == "kept"
    wait_servers(daemon, {"kept": "ready"})
    assert daemon.stop() == 0
    assert processes_with(kept) == []


async def test_aman_mcp_serve_lists_sessions_and_sends_a_message(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config=scripted("hello from aman"))
    params = StdioServerParameters(
        command=sys.executable, cwd=str(REPO_ROOT), env=clean_env(),
        args=["-m", "aman", "mcp", "serve", "--url", daemon.base_url, "--token", TEST_TOKEN])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert names == {"sessions_list", "session_messages", "message_send", "approvals_pending",
                         "approval_respond", "events_recent", "notifications_list"}
        sent = await session.call_tool("message_send", {"text": "hi"})
        assert not sent.is_error, sent
        answer = json.loads(sent.content[0].text)  # type: ignore[union-attr]
        assert answer["reply"] == "hello from aman"
        listed = await session.call_tool("sessions_list", {})
        sessions = json.loads(listed.content[0].text)["items"]  # type: ignore[union-attr]
        assert answer["session_id"] in {s["id"] for s in sessions}
        messages = await session.call_tool("session_messages",
                                           {"session_id": answer["session_id"]})
        assert "hello from aman" in messages.content[0].text  # type: ignore[union-attr]
        pending = await session.call_tool("approvals_pending", {})
        assert json.loads(pending.content[0].text) == {"items": []}  # type: ignore[union-attr]
        events = await session.call_tool("events_recent", {"limit": 5})
        assert json.loads(events.content[0].text)["items"]  # type: ignore[union-attr]
        refused = await session.call_tool("session_messages", {"session_id": "nope"})
        assert refused.is_error and "404" in refused.content[0].text  # type: ignore[union-attr]
