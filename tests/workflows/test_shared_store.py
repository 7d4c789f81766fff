"""Workflow instances moved by two daemons sharing one PostgreSQL store: every step starts from
the state the previous one left, whichever daemon took it."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from aman.core.app import create_app
from aman.core.phases import RuntimeState
from aman.core.runtime import Runtime
from aman.events.model import Delivery, Event
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

TOGGLE = """
name: toggle
states: [down, up]
initial_state: down
transitions:
  - {from: down, event: flip, to: up}
  - {from: up, event: flip, to: down}
"""
FLIPS = 24


async def test_flips_sent_to_both_daemons_each_move_the_instance_once(
        make_settings: SettingsFactory, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "toggle.yaml").write_text(TOGGLE)
    async with AsyncExitStack() as stack:
        daemons: list[Runtime] = []
        for name in ("a", "b"):
            app = create_app(make_settings(
                store__url=url, cluster__node_name=name, runtime__dir=str(tmp_path / name),
                **{"workflows.dirs": [str(folder)]}))
            await stack.enter_async_context(app.test_app())
            rt = runtime_of(app)
            await wait_for(lambda rt=rt: rt.ready or rt.state is RuntimeState.FAILED, 90)
            assert rt.ready, rt.phases.failure
            daemons.append(rt)
        a, b = daemons
        instance = await a.workflows.create("toggle")
        flips = [Event.create(source=f"test:{i % 2}", event_type="flip",
                              delivery=Delivery.AT_LEAST_ONCE,
                              payload={"workflow_instance_id": instance.id})
                 for i in range(FLIPS)]

        async def moved(count: int) -> bool:
            return len((await b.workflows.get(instance.id)).history) == count + 1

        # Taking turns, each daemon's step must see the move the other one just made...
        half = FLIPS // 2
        for i, flip in enumerate(flips[:half]):
            await daemons[i % 2].bus.publish(flip)
            await wait_for(lambda i=i: moved(i + 1), 90, what=f"flip {i} to move the instance")
        # ... and sent at once, the steps still take turns.
        await asyncio.gather(*(daemons[i % 2].bus.publish(e)
                               for i, e in enumerate(flips[half:])))
        await wait_for(lambda: moved(FLIPS), 90, what="every flip to move the instance")
        stored = await a.workflows.get(instance.id)
        moves = stored.history[1:]  # after "created"
        # Each move starts where the one before ended: no step read a stale state.
        assert all(m.from_state != n.from_state for m, n in zip(moves, moves[1:], strict=False))
        assert sorted(m.event_id for m in moves) == sorted(e.id for e in flips)
        assert stored.state == "down"  # an even number of flips
