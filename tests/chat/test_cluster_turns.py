"""Chat on two daemons sharing one PostgreSQL store: a session's turns run on one daemon at a
time, and a message sent to the other daemon meanwhile is answered after, in order."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

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


async def test_a_sessions_turn_on_one_daemon_holds_back_the_other_daemons_turn(
        make_settings: SettingsFactory, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    runtimes: list[Runtime] = []
    clients = []
    async with AsyncExitStack() as stack:
        for name in ("first", "second"):
            app = create_app(scripted(make_settings, LONG, token_ms=30, store__url=url,
                                      cluster__node_name=name,
                                      runtime__dir=str(tmp_path / name)))
            served = await stack.enter_async_context(app.test_app())
            rt = runtime_of(app)
            await wait_for(lambda rt=rt: rt.ready or rt.state is RuntimeState.FAILED,
                           BOOT_TIMEOUT)
            assert rt.ready, rt.phases.failure
            runtimes.append(rt)
            clients.append(served.test_client())
        first, second = clients
        chunks: dict[str, list[str]] = {"first": [], "second": []}
        for rt, label in zip(runtimes, chunks, strict=True):
            def seen(event: Event, label: str = label) -> None:
                if event.event_type == "agent:reply_chunk":
                    chunks[label].append(str(event.payload.get("message_id")))
            rt.bus.observe(seen)

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
        state = await settle(second, session["id"], timeout=60)
        messages = state["messages"]
        assert [(m["seq"], m["role"], m["status"]) for m in messages] == [
            (1, "user", "complete"), (2, "assistant", "complete"),
            (3, "user", "complete"), (4, "assistant", "complete")]
        assert [m["content"] for m in messages[::2]] == ["one", "two"]
        # Each daemon streamed the reply to the message it took, and only that one.
        assert set(chunks["first"]) == {messages[1]["id"]}
        assert set(chunks["second"]) == {messages[3]["id"]}
