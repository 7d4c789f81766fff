"""Tool approvals through the real daemon: SSE prompt, answer over HTTP, the asker resumes.

A test plugin's route (tests/plugins/approver) calls ``runtime.approvals.request`` inside the
daemon the way plugins can; the agent loop's own path is proven in tests/e2e/test_agent_tools.py.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.daemons import REPO_ROOT, Daemon, StartDaemon
from tests.e2e.test_stream import Message, open_stream

pytestmark = pytest.mark.e2e


def approver_daemon(start_daemon: StartDaemon, tmp_path: Path, **tools: Any) -> Daemon:
    folder = tmp_path / "sample_plugins"
    shutil.copytree(REPO_ROOT / "tests" / "plugins" / "approver", folder / "approver")
    return start_daemon(extra_config={"plugins": {"dirs": [str(folder)]}, "tools": tools})


def ask(pool: ThreadPoolExecutor, daemon: Daemon, **body: Any) -> Future[httpx.Response]:
    """POST /api/v1/approver/ask on its own connection (it blocks until the decision)."""

    def call() -> httpx.Response:
        with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
            return client.post("/api/v1/approver/ask", json=body)

    return pool.submit(call)


def is_type(event_type: str) -> Any:
    return lambda m: m.event == "event:processed" and m.json["event_type"] == event_type


def payload(message: Message) -> dict[str, Any]:
    return dict(message.json["payload"])


def test_approval_round_trip_over_sse_and_respond(start_daemon: StartDaemon,
                                                  tmp_path: Path) -> None:
    daemon = approver_daemon(start_daemon, tmp_path)
    call = {"tool": "write", "sensitivity": "medium", "session_id": "s1", "agent_id": "default",
            "arguments": {"path": "notes.md", "text": "hello"}, "call_id": "write-1"}
    with ThreadPoolExecutor(2) as pool, open_stream(daemon, params={"types": "tool_auth_*"}) as sse:
        pending = ask(pool, daemon, **call)
        prompt = payload(sse.until(is_type("tool_auth_required"))[-1])
        assert prompt["tool_name"] == "write" and prompt["session_id"] == "s1"
        assert prompt["call_id"] == "write-1" and '"path":"notes.md"' in prompt["arguments_summary"]
        listed = daemon.client.get("/tool-auth/pending").json()["items"]
        assert [p["auth_id"] for p in listed] == [prompt["auth_id"]]
        assert not pending.done()  # the asker waits for the answer
        answer = daemon.client.post("/tool-auth/respond", headers={"x-aman-operator": "alice"},
                                    json={"auth_id": prompt["auth_id"], "approved": True})
        assert answer.status_code == 200 and answer.json()["status"] == "approved"
        decision = pending.result(timeout=10).json()
        assert decision == {"outcome": "approved", "decided_by": "alice",
                            "reason": "approved by alice", "auth_id": prompt["auth_id"]}
        done = payload(sse.until(is_type("tool_auth_resolved"))[-1])
        assert (done["outcome"], done["decided_by"]) == ("approved", "alice")
        # The same call in the same session does not ask again.
        again = ask(pool, daemon, **call).result(timeout=10).json()
        assert (again["outcome"], again["decided_by"]) == ("approved", "session")
        second = daemon.client.post("/tool-auth/respond",
                                    json={"auth_id": prompt["auth_id"], "approved": False})
        assert second.status_code == 409 and second.json()["error"]["code"] == "already_answered"
    audit = daemon.client.get("/audit-log", params={"action": "tool_auth.*"}).json()["items"]
    # Newest first: the refused second answer (by the request trail), the decision (by the service).
    assert [(r["action"], r["operator"], r["outcome"]) for r in audit] == [
        ("tool_auth.respond", "api", "rejected"), ("tool_auth.approve", "alice", "ok")]


def test_timeout_and_denial_by_code(start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = approver_daemon(start_daemon, tmp_path, approval_timeout_sec=0.5)
    with ThreadPoolExecutor(2) as pool, open_stream(daemon, params={"types": "tool_auth_*"}) as sse:
        timed_out = ask(pool, daemon, tool="exec", sensitivity="high", session_id="s1",
                        arguments={"cmd": "ls"}).result(timeout=10).json()
        assert (timed_out["outcome"], timed_out["decided_by"]) == ("timeout", "system")
        late = daemon.client.post("/tool-auth/respond",
                                  json={"auth_id": timed_out["auth_id"], "approved": True})
        assert late.status_code == 404 and late.json()["error"]["code"] == "auth_not_found"
        pending = ask(pool, daemon, tool="exec", sensitivity="high", session_id="s1",
                      arguments={"cmd": "ls"})
        prompt = payload(sse.until(
            lambda m: is_type("tool_auth_required")(m) and m.json["payload"]["auth_id"]
            != timed_out["auth_id"])[-1])
        code = prompt["code"]
        denied = daemon.client.post("/tool-auth/respond", json={"auth_id": code, "approved": False})
        assert denied.status_code == 200 and denied.json()["status"] == "denied"
        assert pending.result(timeout=10).json()["outcome"] == "denied"
