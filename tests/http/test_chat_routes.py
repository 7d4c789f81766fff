"""Chat session routes through the test client, on the scripted provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.events.model import Event
from tests.chat.helpers import create_session, scripted, settle, state_of
from tests.helpers import SettingsFactory, wait_for

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return scripted(make_settings, "You said: {input}", "Second answer here.")


def capture(runtime: Runtime) -> list[Event]:
    events: list[Event] = []
    runtime.bus.observe(events.append)
    return events


async def error_code(response: Any) -> str:
    return str((await response.get_json())["error"]["code"])


async def test_create_send_and_read_the_reply(client: TestClientProtocol,
                                              runtime: Runtime) -> None:
    events = capture(runtime)
    session = await create_session(client, title="hello")
    assert session["state"] == "active" and session["version"] == 0
    assert session["agent_id"] == "aman" and session["session_type"] == "persistent"
    sent = await client.post(f"/chat/session/{session['id']}/send", json={"text": "hi there"})
    assert sent.status_code == 202
    body = await sent.get_json()
    assert body["ok"] is True and body["version"] == 1 and body["event_id"] and body["message_id"]
    state = await settle(client, session["id"])
    assert state["version"] == 1 and state["title"] == "hello"
    user, reply = state["messages"]
    assert (user["role"], user["content"], user["status"]) == ("user", "hi there", "complete")
    assert (reply["role"], reply["content"], reply["status"]) == (
        "assistant", "You said: hi there", "complete")
    assert reply["output_tokens"] == 4 and reply["seq"] == user["seq"] + 1
    await wait_for(lambda: any(e.event_type == "agent:reply_ready" for e in events))
    types = [e.event_type for e in events if e.payload.get("session_id") == session["id"]]
    for expected in ("message_received", "agent:reply_stream_start", "agent:reply_chunk",
                     "agent:reply_stream_done", "agent:reply_ready"):
        assert expected in types
    ready = next(e for e in events if e.event_type == "agent:reply_ready")
    assert ready.payload["reply"] == "You said: hi there"
    assert ready.payload["message_id"] == reply["id"]
    chunks = [e.payload for e in events if e.event_type == "agent:reply_chunk"]
    assert "".join(c["delta"] for c in chunks) == "You said: hi there"
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    await runtime.writer.flush()
    instance = await (await client.get(
        f"/workflow-instance/{session['workflow_instance_id']}")).get_json()
    assert instance["workflow_name"] == "message-session"
    assert [h["to"] for h in instance["history"]] == ["active", "processing", "idle"]


async def test_wait_returns_the_finished_reply(client: TestClientProtocol) -> None:
    session = await create_session(client)
    response = await client.post(f"/chat/session/{session['id']}/send",
                                 json={"text": "ping", "wait": True})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["reply"]["content"] == "You said: ping" and body["reply"]["status"] == "complete"


async def test_messages_are_answered_in_order(client: TestClientProtocol) -> None:
    session = await create_session(client)
    for text in ("one", "two"):
        response = await client.post(f"/chat/session/{session['id']}/send", json={"text": text})
        assert response.status_code == 202
    state = await settle(client, session["id"])
    assert [(m["role"], m["content"]) for m in state["messages"]] == [
        ("user", "one"), ("assistant", "You said: one"),
        ("user", "two"), ("assistant", "Second answer here.")]


async def test_version_conflict_names_both_and_changes_nothing(
        client: TestClientProtocol) -> None:
    session = await create_session(client)
    response = await client.post(f"/chat/session/{session['id']}/send",
                                 json={"text": "x", "expected_version": 3})
    assert response.status_code == 409
    error = (await response.get_json())["error"]
    assert error["code"] == "version_conflict" and "expected 3" in error["message"]
    assert error["details"] == {"expected": 3, "current": 0}
    assert (await state_of(client, session["id"]))["messages"] == []
    ok = await client.post(f"/chat/session/{session['id']}/send",
                           json={"text": "x", "expected_version": 0})
    assert ok.status_code == 202


async def test_unknown_session_and_bad_bodies(client: TestClientProtocol) -> None:
    for method, path in (("GET", "/chat/session/nope/state"),
                         ("GET", "/chat/session/nope/history"),
                         ("POST", "/chat/session/nope/stop"),
                         ("POST", "/chat/session/nope/retry"),
                         ("DELETE", "/chat/session/nope")):
        response = await client.open(path, method=method)
        assert response.status_code == 404 and await error_code(response) == "session_not_found"
    sent = await client.post("/chat/session/nope/send", json={"text": "x"})
    assert sent.status_code == 404
    session = await create_session(client)
    for bad in ({}, {"text": ""}, {"text": "x", "extra": 1}, {"text": "x", "expected_version": -1}):
        response = await client.post(f"/chat/session/{session['id']}/send", json=bad)
        assert response.status_code == 400 and await error_code(response) == "validation_error"
    unknown_agent = await client.post("/chat/session/create", json={"agent_id": "ghost"})
    assert unknown_agent.status_code == 400
    assert await error_code(unknown_agent) == "agent_unavailable"
    bad_type = await client.post("/chat/session/create", json={"session_type": "forever"})
    assert bad_type.status_code == 400


async def test_list_sessions_most_recently_active_first(client: TestClientProtocol,
                                                       runtime: Runtime) -> None:
    first = await create_session(client)
    second = await create_session(client)
    # Activity is ordered by milliseconds: the bump must land in a later one than the creation.
    await wait_for(lambda: runtime.clock.now_ms() > second["last_active_at"],
                   what="the clock to pass the second session's creation")
    await client.post(f"/chat/session/{first['id']}/send", json={"text": "bump"})
    page = await (await client.get("/chat/sessions?limit=1")).get_json()
    assert [s["id"] for s in page["items"]] == [first["id"]] and page["next_cursor"]
    rest = await (await client.get(
        f"/chat/sessions?limit=1&cursor={page['next_cursor']}")).get_json()
    assert [s["id"] for s in rest["items"]] == [second["id"]]
    assert rest["items"][0]["state"] == "active"
    none = await (await client.get("/chat/sessions?agent_id=ghost")).get_json()
    assert none["items"] == []
    bad = await client.get("/chat/sessions?cursor=zzz")
    assert bad.status_code == 400 and await error_code(bad) == "invalid_cursor"


async def test_history_pages_in_order(client: TestClientProtocol) -> None:
    session = await create_session(client)
    for text in ("a", "b"):
        await client.post(f"/chat/session/{session['id']}/send", json={"text": text})
    await settle(client, session["id"])
    first = await (await client.get(
        f"/chat/session/{session['id']}/history?limit=3")).get_json()
    assert [m["content"] for m in first["items"]] == ["a", "You said: a", "b"]
    rest = await (await client.get(
        f"/chat/session/{session['id']}/history?limit=3&cursor={first['next_cursor']}")
    ).get_json()
    assert [m["content"] for m in rest["items"]] == ["Second answer here."]
    assert rest["next_cursor"] is None


async def test_close_then_send_is_session_closed(client: TestClientProtocol) -> None:
    session = await create_session(client)
    closed = await client.post(f"/chat/session/{session['id']}/close", json={"reason": "done"})
    assert closed.status_code == 200 and (await closed.get_json())["state"] == "closed"
    response = await client.post(f"/chat/session/{session['id']}/send", json={"text": "x"})
    assert response.status_code == 409
    error = (await response.get_json())["error"]
    assert error["code"] == "session_closed" and "create" in error["hint"]
    again = await client.post(f"/chat/session/{session['id']}/close", json={})
    assert again.status_code == 409
    assert (await state_of(client, session["id"]))["state"] == "closed"


async def test_delete_removes_session_and_messages_and_is_audited(
        client: TestClientProtocol, runtime: Runtime) -> None:
    session = await create_session(client)
    await client.post(f"/chat/session/{session['id']}/send", json={"text": "x", "wait": True})
    deleted = await client.delete(f"/chat/session/{session['id']}")
    assert deleted.status_code == 200 and (await deleted.get_json())["messages"] == 2
    assert (await client.get(f"/chat/session/{session['id']}/state")).status_code == 404
    audit = await (await client.get("/audit-log?action=chat.session.delete")).get_json()
    assert audit["items"][0]["target"] == f"chat_session:{session['id']}"


async def test_send_is_audited_with_a_content_hash(client: TestClientProtocol) -> None:
    session = await create_session(client)
    await client.post(f"/chat/session/{session['id']}/send", json={"text": "secret-ish"})
    audit = await (await client.get("/audit-log?action=chat.session.send")).get_json()
    detail = audit["items"][0]["detail"]
    assert len(detail["content_sha256"]) == 64 and "secret-ish" not in str(detail)
