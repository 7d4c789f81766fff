"""Chat sessions through the real daemon over HTTP, on the scripted provider.

Create, send, reply chunks on /events/stream and on the session's own stream, the reply in the
history; stop mid-stream; retry; edit; version conflict; a blocked message; a boundary refusal;
queue overflow; kill -9 mid-stream and restart; no provider configured.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.daemons import Daemon, StartDaemon, daemon_context
from tests.e2e.test_stream import open_stream
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

#: 40 words at 25 ms: a reply streams for about a second, long enough to stop or kill.
FILLER = " ".join(f"w{i}" for i in range(40))
CHAT_CONFIG: dict[str, Any] = {
    "llm": {"default_provider": "s", "providers": {"s": {
        "kind": "scripted", "replies": [f"Echo {{input}}: {FILLER}"], "token_ms": 25}}},
    "agents": {"aman": {"queue_max_size": 2}},
    "chat": {"content_policy": [
        {"name": "no-card", "pattern": r"\b\d{4}-\d{4}-\d{4}-\d{4}\b", "action": "block"}]},
}


@pytest.fixture(scope="module")
def chat_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with the scripted provider, shared by the module's tests."""
    with daemon_context(tmp_path_factory.mktemp("chat"), extra_config=CHAT_CONFIG) as running:
        yield running


def create(daemon: Daemon) -> str:
    response = daemon.client.post("/chat/session/create", json={"title": "e2e"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def send(daemon: Daemon, session_id: str, text: str, **extra: Any) -> httpx.Response:
    return daemon.client.post(f"/chat/session/{session_id}/send", json={"text": text, **extra})


def state(daemon: Daemon, session_id: str) -> dict[str, Any]:
    response = daemon.client.get(f"/chat/session/{session_id}/state")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_state(daemon: Daemon, session_id: str, check: Callable[[dict[str, Any]], bool],
               timeout: float = 10.0) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = state(daemon, session_id)
        return found if check(found) else None

    return wait_for_sync(reached, timeout, what=f"session {session_id} to pass {check.__name__}")


def stream_connections(daemon: Daemon) -> int:
    """How many event-stream clients the daemon has registered so far (its metrics)."""
    for line in daemon.client.get("/metrics").text.splitlines():
        if line.startswith("aman_stream_connections_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no aman_stream_connections_total in /metrics")


def settled(found: dict[str, Any]) -> bool:
    return found["state"] == "idle" and all(m["status"] != "streaming"
                                            for m in found["messages"])


def streaming(found: dict[str, Any]) -> bool:
    return any(m["status"] == "streaming" and m["content"] for m in found["messages"])


class SessionStream:
    """The session's SSE stream, read in a thread into a list of (event name, data)."""

    def __init__(self, daemon: Daemon, session_id: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self._client = httpx.Client(base_url=daemon.base_url, timeout=httpx.Timeout(10, read=30))
        self._thread = threading.Thread(target=self._read, args=(session_id,), daemon=True)
        self._thread.start()

    def _read(self, session_id: str) -> None:
        try:
            with self._client.stream("GET", f"/chat/session/{session_id}/stream") as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.messages.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass

    def close(self) -> None:
        self._client.close()


def test_send_streams_chunks_on_both_streams_and_stores_the_reply(chat_daemon: Daemon) -> None:
    session_id = create(chat_daemon)
    before = stream_connections(chat_daemon)
    own = SessionStream(chat_daemon, session_id)
    wait_for_sync(lambda: stream_connections(chat_daemon) > before,
                  what="the session stream to register")
    try:
        with open_stream(chat_daemon, params={
                "types": "agent:reply_chunk,agent:reply_ready"}) as stream:
            sent = send(chat_daemon, session_id, "hello")
            assert sent.status_code == 202, sent.text
            body = sent.json()
            assert body["ok"] is True and body["version"] == 1 and body["message_id"]
            seen = stream.until(lambda m: m.event == "event:processed"
                                and m.json["event_type"] == "agent:reply_ready")
        chunks = [m.json["payload"] for m in seen if m.event == "event:processed"
                  and m.json["event_type"] == "agent:reply_chunk"
                  and m.json["payload"]["session_id"] == session_id]
        expected = f"Echo hello: {FILLER}"
        assert "".join(c["delta"] for c in chunks) == expected
        assert seen[-1].json["payload"]["reply"] == expected
        found = wait_state(chat_daemon, session_id, settled)
        assert [m["content"] for m in found["messages"]] == ["hello", expected]
        history = chat_daemon.client.get(f"/chat/session/{session_id}/history").json()
        assert history["items"][-1]["content"] == expected
        wait_for_sync(lambda: any(m.get("event_type") == "agent:reply_ready"
                                  for m in own.messages), what="reply_ready on the session stream")
        types = {m["event_type"] for m in own.messages}
        assert {"message_received", "agent:reply_chunk", "agent:reply_ready"} <= types
        assert all(m["payload"].get("session_id") == session_id
                   or m["event_type"] == "workflow_state_changed" for m in own.messages)
    finally:
        own.close()


def test_stop_mid_stream_then_retry_then_edit(chat_daemon: Daemon) -> None:
    session_id = create(chat_daemon)
    assert send(chat_daemon, session_id, "tell me").status_code == 202
    wait_state(chat_daemon, session_id, streaming)
    started = time.monotonic()
    stopped = chat_daemon.client.post(f"/chat/session/{session_id}/stop")
    assert time.monotonic() - started < 0.5
    assert stopped.json()["stopped"] is True and stopped.json()["state"] == "idle"
    interrupted = state(chat_daemon, session_id)["messages"][-1]
    assert interrupted["status"] == "interrupted"
    assert 0 < len(interrupted["content"]) < len(f"Echo tell me: {FILLER}")

    retried = chat_daemon.client.post(f"/chat/session/{session_id}/retry")
    assert retried.status_code == 200 and retried.json()["replaces"] == interrupted["id"]
    found = wait_state(chat_daemon, session_id, settled)
    assert found["messages"][-1]["content"] == f"Echo tell me: {FILLER}"
    assert found["messages"][-1]["replaces"] == interrupted["id"]

    first = found["messages"][0]
    edited = chat_daemon.client.post(f"/chat/session/{session_id}/edit", json={
        "message_id": first["id"], "new_text": "tell me again", "expected_version": 2,
        "wait": True})
    assert edited.status_code == 200, edited.text
    assert edited.json()["reply"]["content"] == f"Echo tell me again: {FILLER}"
    everything = chat_daemon.client.get(
        f"/chat/session/{session_id}/history", params={"all": "true"}).json()["items"]
    assert [m["status"] for m in everything] == [
        "superseded", "superseded", "superseded", "complete", "complete"]
    visible = state(chat_daemon, session_id)["messages"]
    assert [m["content"] for m in visible] == ["tell me again", f"Echo tell me again: {FILLER}"]


def test_refusals_change_nothing(chat_daemon: Daemon) -> None:
    session_id = create(chat_daemon)
    conflict = send(chat_daemon, session_id, "x", expected_version=5)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "version_conflict"
    assert "expected 5" in conflict.json()["error"]["message"]
    blocked = send(chat_daemon, session_id, "card 1234-5678-9012-3456")
    assert blocked.status_code == 400 and blocked.json()["error"]["code"] == "message_blocked"
    assert "no-card" in blocked.json()["error"]["message"]
    refused = send(chat_daemon, session_id, "never mind, just delete files outside the workspace")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "soul_boundary"
    found = state(chat_daemon, session_id)
    assert found["messages"] == [] and found["version"] == 0


def test_queue_overflow_is_429(chat_daemon: Daemon) -> None:
    session_id = create(chat_daemon)
    codes = [send(chat_daemon, session_id, f"m{i}").status_code for i in range(3)]
    assert codes == [202, 202, 202]  # one running, two waiting
    over = send(chat_daemon, session_id, "one too many")
    assert over.status_code == 429 and over.json()["error"]["code"] == "session_busy"
    assert int(over.headers["Retry-After"]) >= 1
    chat_daemon.client.post(f"/chat/session/{session_id}/stop")


def test_kill_9_mid_stream_then_restart_comes_back_in_error_and_retry_works(
        start_daemon: StartDaemon, tmp_path: Path) -> None:
    home = tmp_path / "chat-home"
    slow = json.loads(json.dumps(CHAT_CONFIG))
    slow["llm"]["providers"]["s"]["token_ms"] = 60  # about 2.6 s: still streaming at the kill
    first = start_daemon(extra_config=slow, home=home)
    session_id = create(first)
    assert send(first, session_id, "crash me").status_code == 202

    def partial_on_disk() -> bool:  # history reads the store, not the running reply
        items = first.client.get(f"/chat/session/{session_id}/history").json()["items"]
        return bool(items) and items[-1]["status"] == "streaming" and bool(items[-1]["content"])

    wait_for_sync(partial_on_disk, what="one partial save of the streaming reply")
    first.process.kill()
    first.process.wait(timeout=10)
    second = start_daemon(extra_config=slow, home=home)
    found = state(second, session_id)
    assert found["state"] == "error"
    reply = found["messages"][-1]
    assert reply["status"] == "interrupted" and reply["content"].startswith("Echo crash me")
    retried = second.client.post(f"/chat/session/{session_id}/retry")
    assert retried.status_code == 200, retried.text
    done = wait_state(second, session_id, settled, timeout=15)
    assert done["messages"][-1]["content"] == f"Echo crash me: {FILLER}"


def test_no_provider_is_a_clear_error(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(extra_config={"llm": {"default_provider": "", "providers": {}}})
    session_id = create(daemon)
    response = send(daemon, session_id, "anyone there?", wait=True)
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply["status"] == "error" and reply["error"]["code"] == "llm_not_configured"
    assert "llm.providers" in reply["error"]["hint"]
    assert wait_state(daemon, session_id, lambda s: s["state"] == "error")
