"""The agent's tool loop through the real daemon: approve a write over HTTP, the reply arrives.

"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import StartDaemon
from tests.e2e.test_stream import open_stream
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e


def is_type(event_type: str) -> Any:
    return lambda m: m.event == "event:processed" and m.json["event_type"] == event_type


def test_agent_write_is_approved_over_http_and_runs(start_daemon: StartDaemon,
                                                    tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write = json.dumps({"tool_calls": [{"name": "write",
                                        "arguments": {"path": "notes.md", "content": "hello"}}]})
    daemon = start_daemon(extra_config={
        "llm": {"default_provider": "s", "providers": {"s": {
            "kind": "scripted", "replies": [write, "Saved: {tool_result}"]}}},
        "tools": {"workspace_dir": str(workspace)}})
    session_id = daemon.client.post("/chat/session/create", json={}).json()["id"]
    with open_stream(daemon, params={"types": "tool_auth_*"}) as sse:
        sent = daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "save it"})
        assert sent.status_code == 202, sent.text
        prompt = sse.until(is_type("tool_auth_required"))[-1].json["payload"]
        assert prompt["tool_name"] == "write" and prompt["session_id"] == session_id
        assert not (workspace / "notes.md").exists()
        answer = daemon.client.post("/tool-auth/respond",
                                    json={"auth_id": prompt["auth_id"], "approved": True})
        assert answer.status_code == 200, answer.text
    reply = finished_reply(daemon, session_id)
    assert reply["status"] == "complete" and reply["content"].startswith("Saved:")
    assert reply["tool_steps"][0]["results"][0]["status"] == "success"
    assert (workspace / "notes.md").read_text() == "hello"


def scripted(*replies: str) -> dict[str, Any]:
    return {"llm": {"default_provider": "s", "providers": {"s": {
        "kind": "scripted", "replies": list(replies)}}}}


def calls(name: str, **arguments: Any) -> str:
    return json.dumps({"tool_calls": [{"name": name, "arguments": arguments}]})


def finished_reply(daemon: Any, session_id: str, timeout: float = 10.0) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        messages = daemon.client.get(f"/chat/session/{session_id}/state").json()["messages"]
        last = messages[-1] if messages else None
        done = last and last["role"] == "assistant" and last["status"] != "streaming"
        return dict(last) if done else None

    return wait_for_sync(finished, timeout, what=f"the reply in session {session_id} to finish")


def test_high_tool_asks_every_time_and_a_denial_is_fed_back(start_daemon: StartDaemon,
                                                             tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={
        **scripted(calls("exec", argv=["echo", "hi"]), "Result: {tool_result}"),
        "tools": {"workspace_dir": str(tmp_path / "ws")}})
    session_id = daemon.client.post("/chat/session/create", json={}).json()["id"]
    with open_stream(daemon, params={"types": "tool_auth_*"}) as sse:
        for approved in (True, False):  # the same exec asks again: high asks every call
            daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "run it"})
            prompt = sse.until(is_type("tool_auth_required"))[-1].json["payload"]
            assert prompt["tool_name"] == "exec"
            daemon.client.post("/tool-auth/respond",
                               json={"auth_id": prompt["auth_id"], "approved": approved})
            reply = finished_reply(daemon, session_id)
            status = reply["tool_steps"][0]["results"][0]["status"]
            assert status == ("success" if approved else "denied")
    assert "denied" in reply["content"]


def test_hardline_is_blocked_even_when_auto_approved(start_daemon: StartDaemon,
                                                     tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={
        **scripted(calls("exec", command="cd / && rm -rf *"), "After: {tool_result}"),
        "tools": {"workspace_dir": str(tmp_path / "ws"), "auto_approve": ["exec"]}})
    session_id = daemon.client.post("/chat/session/create", json={}).json()["id"]
    daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "clean up"})
    result = finished_reply(daemon, session_id)["tool_steps"][0]["results"][0]
    assert result["status"] == "blocked" and "wipe the whole filesystem" in result["reason"]
    pending = daemon.client.get("/tool-auth/pending").json()["items"]
    assert pending == []


def test_stop_during_a_pending_approval_cancels_it(start_daemon: StartDaemon,
                                                   tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={
        **scripted(calls("write", path="x.txt", content="x"), "never"),
        "tools": {"workspace_dir": str(tmp_path / "ws")}})
    session_id = daemon.client.post("/chat/session/create", json={}).json()["id"]
    with open_stream(daemon, params={"types": "tool_auth_*"}) as sse:
        daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "write"})
        sse.until(is_type("tool_auth_required"))
        stopped = daemon.client.post(f"/chat/session/{session_id}/stop")
        assert stopped.status_code == 200, stopped.text
        resolved = sse.until(is_type("tool_auth_resolved"))[-1].json["payload"]
    assert resolved["outcome"] == "cancelled"
    assert finished_reply(daemon, session_id)["status"] == "interrupted"
    assert daemon.client.get("/tool-auth/pending").json()["items"] == []
    assert not (tmp_path / "ws" / "x.txt").exists()


def _gone(pid: int) -> bool:
    """Dead or a zombie (PID 1 here does not reap them)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def test_exec_timeout_kills_the_group_and_detach_streams_progress(start_daemon: StartDaemon,
                                                                 tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={"tools": {"workspace_dir": str(tmp_path / "ws")}})
    confirm = {"x-aman-confirm": "yes"}
    timed = daemon.client.post("/tools/exec/execute", headers=confirm, json={
        "command": "sleep 30 & echo $!; sleep 30", "timeout_sec": 1}, timeout=30)
    assert timed.status_code == 200, timed.text
    output = timed.json()["output"]
    assert output["timed_out"] is True
    child = int(output["stdout"].split()[0])
    wait_for_sync(lambda: _gone(child), what=f"child {child} killed with its group")

    with open_stream(daemon, params={"types": "tool:progress,tool:completed"}) as sse:
        started = daemon.client.post("/tools/exec/execute", headers=confirm, json={
            "argv": ["sh", "-c", "echo first; sleep 0.3; echo second"], "detach": True})
        assert started.status_code == 200, started.text
        handle = started.json()["output"]["handle"]
        done = sse.until(lambda m: m.event == "event:processed"
                         and m.json["event_type"] == "tool:completed"
                         and m.json["payload"].get("handle") == handle)
    texts = "".join(m.json["payload"].get("text", "") for m in done
                    if m.event == "event:processed" and m.json["event_type"] == "tool:progress")
    assert "first" in texts and "second" in texts
    assert done[-1].json["payload"]["exit_code"] == 0


def test_low_tool_runs_unasked_and_an_approved_call_is_not_asked_again(
        start_daemon: StartDaemon, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "todo.md").write_text("buy milk")
    write = calls("write", path="out.md", content="same")
    daemon = start_daemon(extra_config={
        **scripted(calls("read", path="todo.md"), "It says: {tool_result}", write, "ok", write,
                   "ok again"),
        "tools": {"workspace_dir": str(workspace)}})
    session_id = daemon.client.post("/chat/session/create", json={}).json()["id"]
    daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "read my todo"})
    assert "buy milk" in finished_reply(daemon, session_id)["content"]
    with open_stream(daemon, params={"types": "tool_auth_*"}) as sse:
        daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "write"})
        prompt = sse.until(is_type("tool_auth_required"))[-1].json["payload"]
        daemon.client.post("/tool-auth/respond", json={"auth_id": prompt["auth_id"],
                                                       "approved": True})
        assert finished_reply(daemon, session_id)["content"] == "ok"
        daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "write again"})
        again = finished_reply(daemon, session_id)
    assert again["content"] == "ok again"
    assert again["tool_steps"][0]["results"][0]["status"] == "success"
    approvals = daemon.client.get("/audit-log", params={"action": "tool_auth.approve"}).json()
    assert len(approvals["items"]) == 1  # asked (and approved) once for the same call


def test_approval_timeout_is_fed_back_and_stop_interrupts_a_running_tool(
        start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={
        **scripted(calls("write", path="late.md", content="x"), "Got: {tool_result}",
                   calls("exec", argv=["sleep", "30"]), "never"),
        "tools": {"workspace_dir": str(tmp_path / "ws"), "approval_timeout_sec": 0.5,
                  "auto_approve": ["exec"]}})
    session_id = daemon.client.post("/chat/session/create", json={}).json()["id"]
    daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "write late"})
    reply = finished_reply(daemon, session_id)
    assert reply["tool_steps"][0]["results"][0]["status"] == "timeout"
    assert "timeout" in reply["content"]

    with open_stream(daemon, params={"types": "tool:dispatched"}) as sse:
        daemon.client.post(f"/chat/session/{session_id}/send", json={"text": "sleep"})
        sse.until(is_type("tool:dispatched"))
        started = time.monotonic()
        assert daemon.client.post(f"/chat/session/{session_id}/stop").status_code == 200
    assert finished_reply(daemon, session_id)["status"] == "interrupted"
    assert time.monotonic() - started < 5


def test_a_pending_approval_expires_across_a_crash_and_its_turn_is_interrupted(
        start_daemon: StartDaemon, tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = {**scripted(calls("write", path="a.md", content="x"), "done"),
              "tools": {"workspace_dir": str(tmp_path / "ws")}}
    first = start_daemon(extra_config=config, home=home)
    session_id = first.client.post("/chat/session/create", json={}).json()["id"]
    with open_stream(first, params={"types": "tool_auth_*"}) as sse:
        first.client.post(f"/chat/session/{session_id}/send", json={"text": "write"})
        prompt = sse.until(is_type("tool_auth_required"))[-1].json["payload"]
    first.process.kill()  # kill -9 while the approval is pending
    first.process.wait(timeout=10)

    second = start_daemon(extra_config=config, home=home)
    assert second.client.get("/tool-auth/pending").json()["items"] == []
    late = second.client.post("/tool-auth/respond",
                              json={"auth_id": prompt["auth_id"], "approved": True})
    assert late.status_code == 404 and late.json()["error"]["code"] == "auth_not_found"
    found = second.client.get(f"/chat/session/{session_id}/state").json()
    assert found["state"] == "error"
    assert found["messages"][-1]["status"] == "interrupted"
    assert not (tmp_path / "ws" / "a.md").exists()
