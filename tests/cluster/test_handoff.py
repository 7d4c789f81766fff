"""Hand-off: an event another daemon stores for a role is dispatched by the role's leader, told
by a notice on commit (well before its next tick), or by whoever takes the role later."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from pathlib import Path

from aman.cluster.model import Member
from aman.cluster.service import Cluster
from aman.events.model import Event, Unfinished
from aman.store.backend import StoreBackend
from tests.cluster.test_holds import open_daemon
from tests.helpers import wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

#: Ticks this far apart never happen within a test: what is picked up was told.
SLOW_TICK_SEC = 60.0


class Requeued:
    """The bus side of a leader: what it was given to dispatch."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def requeue(self, recovered: list[Unfinished]) -> int:
        self.events.extend(u.event for u in recovered)
        return len(recovered)

    def announce(self, event: Event) -> None:
        pass


async def hand_off(daemon: tuple[Cluster, StoreBackend], text: str) -> Event:
    """Store an outbound text the way a daemon that does not send does."""
    cluster, store = daemon
    claimant = cluster.hand_to("channel_outbox")
    assert claimant == "role/channel_outbox"
    event = Event.create(source="im-out:telegram:bot", event_type="im:outbound",
                         payload={"text": text})
    event = event.with_changes(seq=await store.events.allocate_seq())
    await store.events.append(event, durable=True, dedup_expires_at=None, claimant=claimant)
    return event


async def nothing() -> None:
    pass


async def left_behind(store: StoreBackend, *, claimant: str | None) -> list[Event]:
    """An outbound text and another event, pending and claimed by ``claimant`` (None: the
    store's own daemon)."""
    left = []
    for n, source in enumerate(("im-out:telegram:bot", "test:other"), start=1):
        made = Event.create(source=source, event_type="test.left", payload={"n": n})
        made = made.with_changes(seq=await store.events.allocate_seq())
        await store.events.append(made, durable=True, dedup_expires_at=None, claimant=claimant)
        left.append(made)
    return left


async def test_the_leader_takes_what_another_daemon_hands_its_role(pg_server: PgServer,
                                                                   tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        a, _ = await open_daemon(stack, url, tmp_path, "a", heartbeat_sec=SLOW_TICK_SEC)
        b_daemon = await open_daemon(stack, url, tmp_path, "b", heartbeat_sec=SLOW_TICK_SEC)
        b = b_daemon[0]
        await a.lead("channel_outbox", nothing, nothing)
        await b.lead("channel_outbox", nothing, nothing)
        assert a.leads("channel_outbox") and not b.leads("channel_outbox")
        assert a.hand_to("channel_outbox") is None
        leader = Requeued()
        a.attach(leader)
        b.attach(Requeued())
        handed = [await hand_off(b_daemon, f"text {n}") for n in range(3)]
        await wait_for(lambda: len(leader.events) == 3, 20)
        assert [e.id for e in leader.events] == [e.id for e in handed]


async def test_what_was_handed_while_nobody_led_goes_to_the_next_leader(
        pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        b_daemon = await open_daemon(stack, url, tmp_path, "b", heartbeat_sec=SLOW_TICK_SEC)
        handed = await hand_off(b_daemon, "while nobody leads")
        a, _ = await open_daemon(stack, url, tmp_path, "a", heartbeat_sec=SLOW_TICK_SEC)
        leader = Requeued()
        a.attach(leader)
        await a.lead("channel_outbox", nothing, nothing)
        await wait_for(lambda: [e.id for e in leader.events] == [handed.id], 20)


async def test_a_dead_daemons_outbound_events_wait_for_the_leader(pg_server: PgServer,
                                                                 tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        a, store = await open_daemon(stack, url, tmp_path, "a", heartbeat_sec=SLOW_TICK_SEC)
        b, _ = await open_daemon(stack, url, tmp_path, "b", heartbeat_sec=SLOW_TICK_SEC)
        for cluster in (a, b):
            cluster.hand_off("channel_outbox", "im-out:")
        await a.lead("channel_outbox", nothing, nothing)
        await b.lead("channel_outbox", nothing, nothing)
        # A daemon "c" died (silent for half an hour) with an outbound text and another event.
        silent_since = time.time_ns() // 1_000_000 - 1_800_000
        await store.members.join(Member(name="c", incarnation="old", host="h", pid=1, url=None,
                                        started_at=silent_since, last_seen=silent_since))
        outbound, other = await left_behind(store, claimant="c")
        # The daemon that does not send takes the other event and leaves the text alone...
        follower = Requeued()
        b.attach(follower)
        await wait_for(lambda: [e.id for e in follower.events] == [other.id], 20)
        # ...which the leader takes.
        leader = Requeued()
        a.attach(leader)
        await wait_for(lambda: [e.id for e in leader.events] == [outbound.id], 20)
        assert [e.id for e in follower.events] == [other.id]


async def test_a_restarted_daemon_takes_back_its_events_but_leaves_outbound_to_the_leader(
        pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        a, _ = await open_daemon(stack, url, tmp_path, "a", heartbeat_sec=SLOW_TICK_SEC)
        b, store = await open_daemon(stack, url, tmp_path, "b", heartbeat_sec=SLOW_TICK_SEC)
        for cluster in (a, b):
            cluster.hand_off("channel_outbox", "im-out:")
        await a.lead("channel_outbox", nothing, nothing)
        # What b's previous run left claimed under its name (it led channel_outbox then).
        outbound, other = await left_behind(store, claimant=None)
        assert [u.event.id for u in await b.recover()] == [other.id]
        leader = Requeued()
        a.attach(leader)
        await wait_for(lambda: [e.id for e in leader.events] == [outbound.id], 20)
