"""Chat on two daemons sharing one PostgreSQL store: a session's turns run on one daemon at a
time, and a message sent to the other daemon meanwhile is answered after, in order."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aman.core.app import create_app
from aman.core.phases import RuntimeState
from aman.core.runtime import Runtime
from aman.events.model import Event
from tests.chat.helpers import create_session, scripted, settle
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

BOOT_TIMEOUT = 90.0
LONG = " ".join(f"word{i}" for i in range(60))


async def boot(stack: AsyncExitStack, make_settings: SettingsFactory, url: str, folder: Path,
               name: str, *, token_ms: int = 30) -> tuple[Runtime, Any]:
    """A daemon named ``name`` on ``url`` with a slow scripted provider, and its client."""
    app = create_app(scripted(make_settings, LONG, token_ms=token_ms, store__url=url,
                              cluster__node_name=name, runtime__dir=str(folder / name)))
    served = await stack.enter_async_context(app.test_app())
    rt = runtime_of(app)
    await wait_for(lambda: rt.ready or rt.state is RuntimeState.FAILED, BOOT_TIMEOUT)
    assert rt.ready, rt.phases.failure
    return rt, served.test_client()


def chunks_of(rt: Runtime) -> list[str]:
    """The ids of the replies ``rt`` streams from now on, one per chunk."""
    seen: list[str] = []

    def observe(event: Event) -> None:
        if event.event_type == "agent:reply_chunk":  # announced locally, never fed elsewhere
            seen.append(str(event.payload.get("message_id")))

    rt.bus.observe(observe)
    return seen


async def test_a_sessions_turn_on_one_daemon_holds_back_the_other_daemons_turn(
        make_settings: SettingsFactory, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        rt1, first = await boot(stack, make_settings, url, tmp_path, "first")
        rt2, second = await boot(stack, make_settings, url, tmp_path, "second")
        chunks = {"first": chunks_of(rt1), "second": chunks_of(rt2)}
        session = await create_session(first)
        sent = await first.post(f"/chat/session/{session['id']}/send", json={"text": "one"})
        assert sent.status_code == 202
        await wait_for(lambda: len(chunks["first"]) >= 3, 30)
        # The second daemon takes the message only once the first is through with the session.
        other = asyncio.create_task(second.post(f"/chat/session/{session['id']}/send",
                                                json={"text": "two"}))
        done, _ = await asyncio.wait({other}, timeout=0.5)
        assert not done, "the second daemon did not wait for the first's turn"
        answered = await asyncio.wait_for(other, 60)
        assert answered.status_code == 202, await answered.get_json()
        # By then the first reply was complete and stored.
        history = (await (await second.get(
            f"/chat/session/{session['id']}/history")).get_json())["items"]
        assert [(m["role"], m["status"]) for m in history] == [
            ("user", "complete"), ("assistant", "complete"), ("user", "complete")]
        # The 202 means the message is stored; its reply may start a moment later.
        found: dict[str, Any] = {}

        async def answered_twice() -> bool:
            found.update(await settle(second, session["id"], timeout=60))
            return len(found["messages"]) == 4

        await wait_for(answered_twice, 60, what="the second message's reply")
        messages = found["messages"]
        assert [(m["seq"], m["role"], m["status"]) for m in messages] == [
            (1, "user", "complete"), (2, "assistant", "complete"),
            (3, "user", "complete"), (4, "assistant", "complete")]
        assert [m["content"] for m in messages[::2]] == ["one", "two"]
        # Each daemon streamed the reply to the message it took, and only that one.
        assert set(chunks["first"]) == {messages[1]["id"]}
        assert set(chunks["second"]) == {messages[3]["id"]}


async def test_a_daemon_booting_leaves_a_reply_streaming_on_another_daemon_alone(
        make_settings: SettingsFactory, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        # A reply slow enough to outlast another daemon's boot (about 20 s).
        rt1, first = await boot(stack, make_settings, url, tmp_path, "first", token_ms=350)
        streamed = chunks_of(rt1)
        session = await create_session(first)
        sent = await first.post(f"/chat/session/{session['id']}/send", json={"text": "one"})
        assert sent.status_code == 202
        await wait_for(lambda: len(streamed) >= 3, 30)
        # Crash recovery on the daemon that boots now must not take that reply for a leftover.
        _, second = await boot(stack, make_settings, url, tmp_path, "second")
        assert len(streamed) < len(LONG.split()), "the reply ended before the second booted"
        state = await settle(second, session["id"], timeout=60)
        reply = state["messages"][-1]
        assert (reply["status"], reply["content"]) == ("complete", LONG)
        assert state["state"] == "idle"


async def test_a_stop_sent_to_the_other_daemon_stops_the_reply_where_it_is_written(
        make_settings: SettingsFactory, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        rt1, first = await boot(stack, make_settings, url, tmp_path, "first", token_ms=100)
        _, second = await boot(stack, make_settings, url, tmp_path, "second", token_ms=100)
        streamed = chunks_of(rt1)
        session = await create_session(first)
        sent = await first.post(f"/chat/session/{session['id']}/send", json={"text": "one"})
        assert sent.status_code == 202
        await wait_for(lambda: len(streamed) >= 3, 30)
        stopped = await (await second.post(f"/chat/session/{session['id']}/stop")).get_json()
        assert stopped["stopped"] is True, stopped
        assert stopped["state"] == "idle"
        reply = (await settle(second, session["id"], timeout=30))["messages"][-1]
        assert reply["status"] == "interrupted" and len(reply["content"]) < len(LONG)
        # Nothing running anywhere: a stop on either daemon says so.
        for client in (first, second):
            again = await (await client.post(f"/chat/session/{session['id']}/stop")).get_json()
            assert again["stopped"] is False
