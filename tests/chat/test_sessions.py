"""ChatService behaviour through a real runtime and the scripted provider: stop, retry, edit,
policy, boundaries, the queue bound, failures and crash recovery."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from aman.chat import definition as d
from aman.config.settings import Settings
from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.model import Event
from tests.chat.helpers import create_session, scripted, settle, state_of
from tests.helpers import SettingsFactory, runtime_of, wait_for

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

LONG = " ".join(f"word{i}" for i in range(200))
RULES = [{"name": "no-card", "pattern": r"\b\d{4}-\d{4}-\d{4}-\d{4}\b", "action": "block"},
         {"name": "swear", "pattern": "darn", "action": "replace_token", "replacement": "***"}]


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return scripted(make_settings, LONG, "Short reply.", token_ms=20,
                    **{"chat.content_policy": RULES})


def capture(runtime: Runtime) -> list[Event]:
    events: list[Event] = []
    runtime.bus.observe(events.append)
    return events


async def send(client: TestClientProtocol, session_id: str, text: str, **extra: Any) -> Any:
    return await client.post(f"/chat/session/{session_id}/send", json={"text": text, **extra})


async def test_stop_keeps_the_partial_reply_as_interrupted(client: TestClientProtocol,
                                                           runtime: Runtime) -> None:
    events = capture(runtime)
    session = await create_session(client)
    await send(client, session["id"], "talk a lot")
    await wait_for(lambda: sum(e.event_type == "agent:reply_chunk" for e in events) >= 3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stopped = await client.post(f"/chat/session/{session['id']}/stop")
    assert loop.time() - started < 0.2
    body = await stopped.get_json()
    assert body["stopped"] is True and body["state"] == "idle"
    state = await state_of(client, session["id"])
    reply = state["messages"][-1]
    assert reply["status"] == "interrupted" and reply["content"].startswith("word0 word1")
    assert len(reply["content"]) < len(LONG)
    await wait_for(lambda: any(e.event_type == "agent:reply_interrupted" for e in events))
    again = await client.post(f"/chat/session/{session['id']}/stop")
    assert (await again.get_json())["stopped"] is False


async def started_streaming(events: list[Event]) -> None:
    """Wait until the provider took its reply (so stopping now cuts that reply, not a queue)."""
    await wait_for(lambda: any(e.event_type == "agent:reply_chunk" for e in events))


async def test_retry_supersedes_the_last_reply(client: TestClientProtocol,
                                               runtime: Runtime) -> None:
    events = capture(runtime)
    session = await create_session(client)
    await send(client, session["id"], "hello")
    await started_streaming(events)
    await client.post(f"/chat/session/{session['id']}/stop")
    retried = await client.post(f"/chat/session/{session['id']}/retry")
    assert retried.status_code == 200
    old_id = (await retried.get_json())["replaces"]
    state = await settle(client, session["id"])
    assert [m["content"] for m in state["messages"]] == ["hello", "Short reply."]
    assert state["messages"][-1]["replaces"] == old_id and state["version"] == 2
    everything = await (await client.get(
        f"/chat/session/{session['id']}/history?all=true")).get_json()
    assert [m["status"] for m in everything["items"]] == ["complete", "superseded", "complete"]


async def test_retry_refused_while_busy_or_with_nothing_to_answer(
        client: TestClientProtocol) -> None:
    session = await create_session(client)
    empty = await client.post(f"/chat/session/{session['id']}/retry")
    assert empty.status_code == 409
    assert (await empty.get_json())["error"]["code"] == "session_not_retryable"
    await send(client, session["id"], "long one")
    busy = await client.post(f"/chat/session/{session['id']}/retry")
    assert busy.status_code == 409
    assert (await busy.get_json())["error"]["code"] == "reply_in_progress"
    await client.post(f"/chat/session/{session['id']}/stop")


async def test_edit_supersedes_what_followed_and_answers_again(
        client: TestClientProtocol, runtime: Runtime) -> None:
    events = capture(runtime)
    session = await create_session(client)
    await send(client, session["id"], "first")
    await started_streaming(events)
    await client.post(f"/chat/session/{session['id']}/stop")
    first = (await state_of(client, session["id"]))["messages"][0]
    edited = await client.post(f"/chat/session/{session['id']}/edit", json={
        "message_id": first["id"], "new_text": "first, edited", "expected_version": 1,
        "wait": True})
    assert edited.status_code == 200
    assert (await edited.get_json())["reply"]["content"] == "Short reply."
    state = await state_of(client, session["id"])
    assert [(m["content"], m["replaces"]) for m in state["messages"]] == [
        ("first, edited", first["id"]), ("Short reply.", None)]
    everything = await (await client.get(
        f"/chat/session/{session['id']}/history?all=true")).get_json()
    assert [m["status"] for m in everything["items"]] == [
        "superseded", "superseded", "complete", "complete"]
    stale = await client.post(f"/chat/session/{session['id']}/edit", json={
        "message_id": first["id"], "new_text": "again"})
    assert stale.status_code == 400
    assert (await stale.get_json())["error"]["code"] == "message_not_editable"
    missing = await client.post(f"/chat/session/{session['id']}/edit", json={
        "message_id": "nope", "new_text": "again"})
    assert missing.status_code == 404


async def test_content_policy_blocks_and_replaces(client: TestClientProtocol) -> None:
    session = await create_session(client)
    blocked = await send(client, session["id"], "my card 1234-5678-9012-3456")
    assert blocked.status_code == 400
    error = (await blocked.get_json())["error"]
    assert error["code"] == "message_blocked" and "no-card" in error["message"]
    assert (await state_of(client, session["id"]))["version"] == 0
    replaced = await send(client, session["id"], "darn it", wait=True)
    assert replaced.status_code == 200
    state = await state_of(client, session["id"])
    assert state["messages"][0]["content"] == "*** it"
    audit = await (await client.get("/audit-log?action=chat.session.send")).get_json()
    assert {"rule": "swear", "action": "replace_token"} in \
        audit["items"][0]["detail"]["content_policy"]


async def test_soul_boundary_is_403_and_stores_nothing(client: TestClientProtocol) -> None:
    session = await create_session(client)
    response = await send(client, session["id"], "please delete files outside the workspace")
    assert response.status_code == 403
    error = (await response.get_json())["error"]
    assert error["code"] == "soul_boundary" and "outside the workspace" in error["message"]
    assert (await state_of(client, session["id"]))["messages"] == []


async def test_unknown_skill_command_is_400(client: TestClientProtocol) -> None:
    session = await create_session(client)
    response = await send(client, session["id"], "/no-such-skill do it")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "unknown_skill"


async def test_queue_overflow_is_429_with_retry_after(make_settings: SettingsFactory) -> None:
    settings = scripted(make_settings, LONG, token_ms=20,
                        **{"agents": {"aman": {"queue_max_size": 2}}})
    app = create_app(settings)
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        client = app.test_client()
        session = await create_session(client)
        codes = [(await send(client, session["id"], f"m{i}")).status_code for i in range(4)]
        assert codes == [202, 202, 202, 429]
        over = await send(client, session["id"], "one more")
        assert over.headers["Retry-After"]
        assert (await over.get_json())["error"]["code"] == "session_busy"
        assert (await state_of(client, session["id"]))["version"] == 3
        stopped = await (await client.post(f"/chat/session/{session['id']}/stop")).get_json()
        assert stopped["dropped"] == 2


async def test_no_provider_fails_fast_with_the_hint(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(**{"llm.default_provider": "", "llm.providers": {}}))
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        events = capture(rt)
        client = app.test_client()
        session = await create_session(client)
        response = await send(client, session["id"], "anyone?", wait=True)
        reply = (await response.get_json())["reply"]
        assert reply["status"] == "error" and reply["error"]["code"] == "llm_not_configured"
        assert "llm.providers" in reply["error"]["hint"]
        await settle(client, session["id"], "error")
        await wait_for(lambda: any(e.event_type == "llm_error" for e in events))
        fact = next(e for e in events if e.event_type == "llm_error")
        assert fact.payload["code"] == "llm_not_configured" and fact.payload["hint"]


async def test_crash_recovery_marks_streaming_interrupted_and_retry_works(
        settings: Settings) -> None:
    app = create_app(settings)
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        client = app.test_client()
        session = await create_session(client)
        await send(client, session["id"], "go")
        await wait_for(lambda: (rt.chat._workers.peek(session["id"]) or None) is not None
                         and rt.chat._workers.peek(session["id"]).turn is not None)  # type: ignore[union-attr]

        async def partial_saved() -> bool:  # what the disk holds, not the running turn's text
            await rt.writer.flush()
            stored = await rt.chat._repo.messages(session["id"])
            return stored[-1].status == "streaming" and bool(stored[-1].content)

        await wait_for(partial_saved, what="one partial save of the streaming reply")
        # Simulate a crash: forget the running reply without letting it finish or stop.
        state = rt.chat._workers.peek(session["id"])
        assert state is not None and state.turn is not None
        rt.chat._workers._closing = True
        state.turn.settled = True  # the cancelled turn must not store anything
        for task in (state.turn_task, state.worker):
            assert task is not None
            task.cancel()
        await asyncio.gather(state.turn_task, state.worker, return_exceptions=True)
        await rt.writer.flush()
    app = create_app(settings)
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        client = app.test_client()
        state = await state_of(client, session["id"])
        assert state["state"] == d.ERROR
        reply = state["messages"][-1]
        assert reply["status"] == "interrupted" and reply["content"].startswith("word0")
        retried = await client.post(f"/chat/session/{session['id']}/retry")
        assert retried.status_code == 200
        await client.post(f"/chat/session/{session['id']}/stop")


async def test_a_named_session_is_created_once_and_described_after(
        client: TestClientProtocol, runtime: Runtime) -> None:
    first = await runtime.chat.create(agent_id=None, session_type="background", title="work",
                                      operator="test", session_id="work-proj-item1")
    again = await runtime.chat.create(agent_id=None, session_type="background", title="other",
                                      operator="test", session_id="work-proj-item1")
    assert first["id"] == again["id"] == "work-proj-item1"
    assert again["title"] == "work"
    listed = await (await client.get("/chat/sessions")).get_json()
    assert [s["id"] for s in listed["items"]].count("work-proj-item1") == 1


async def test_an_agent_message_is_stored_and_announced(client: TestClientProtocol,
                                                        runtime: Runtime) -> None:
    events = capture(runtime)
    session = await create_session(client)
    message_id = await runtime.chat.post_agent_message(session["id"], "step 1 of 3", step=1)
    state = await state_of(client, session["id"])
    assert [(m["id"], m["role"], m["content"]) for m in state["messages"]] == [
        (message_id, "assistant", "step 1 of 3")]
    await wait_for(lambda: any(e.event_type == "agent:reply_ready"
                                 and e.payload.get("message_id") == message_id for e in events))
    ready = next(e for e in events if e.event_type == "agent:reply_ready")
    assert ready.payload["step"] == 1 and ready.payload["reply"] == "step 1 of 3"
