"""The agent's tool loop through the real daemon: approve a write over HTTP, the reply arrives (#8)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import StartDaemon
from tests.e2e.test_stream import open_stream

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
    deadline = time.monotonic() + 10
    while True:
        messages = daemon.client.get(f"/chat/session/{session_id}/state").json()["messages"]
        if messages[-1]["role"] == "assistant" and messages[-1]["status"] != "streaming":
            break
        assert time.monotonic() < deadline, messages
        time.sleep(0.05)
    reply = messages[-1]
    assert reply["status"] == "complete" and reply["content"].startswith("Saved:")
    assert reply["tool_steps"][0]["results"][0]["status"] == "success"
    assert (workspace / "notes.md").read_text() == "hello"
