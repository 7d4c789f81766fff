"""Cluster on a real PostgreSQL database: two daemons' worth of store, coordination and claims.

Each "daemon" here is a Cluster with its own pool, writer, event log and lock connection on one
throwaway database; the ticks are driven by the test, and a daemon dies by losing its lock
connection and no longer refreshing its row, as a ``kill -9`` leaves things.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from aman.cluster.service import Cluster
from aman.core.lifecycle import TaskTracker
from aman.errors import StoreError
from aman.events.model import Event, Unfinished
from aman.store.cluster import SqlMemberRepository
from aman.store.pg.cluster import PgCoordination
from aman.store.pg.db import PgDatabase
from aman.store.pg.events import PgEventLog
from aman.store.pg.migrate import migrate_pg
from aman.store.writer import BatchWriter
from tests.helpers import ManualClock, wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]


@dataclass
class FakeBus:
    """What the cluster hands the bus: events to dispatch and events to show."""

    requeued: list[Unfinished] = field(default_factory=list)
    shown: list[Event] = field(default_factory=list)

    def requeue(self, recovered: list[Unfinished]) -> int:
        self.requeued.extend(recovered)
        return len(recovered)

    def announce(self, event: Event) -> None:
        self.shown.append(event)


@dataclass
class Node:
    cluster: Cluster
    log: PgEventLog
    bus: FakeBus
    db: PgDatabase
    writer: BatchWriter
    coordination: PgCoordination


class Nodes:
    """Builds daemons on one database and closes whatever is left at the end."""

    def __init__(self, url: str, clock: ManualClock) -> None:
        self.url, self.clock = url, clock
        self.made: list[Node] = []

    async def make(self, name: str) -> Node:
        db = PgDatabase(self.url)
        await db.open()
        await migrate_pg(db)
        writer = BatchWriter(db)
        await writer.start()
        log = PgEventLog(db, writer, claimant=name)
        coordination = PgCoordination(self.url)
        cluster = Cluster(members=SqlMemberRepository(db, writer), coordination=coordination,
                          events=log, clock=self.clock, tasks=TaskTracker(), name=name,
                          url=None, heartbeat_sec=1.0, dead_after_sec=5.0)
        try:
            await cluster.join()
        except StoreError:
            await writer.stop()
            await db.close()
            raise
        node = Node(cluster, log, FakeBus(), db, writer, coordination)
        self.made.append(node)
        return node

    async def kill(self, node: Node) -> None:
        """Die as kill -9 does: the connections drop, nothing is cleaned up."""
        await node.coordination.close()
        await node.writer.stop()
        await node.db.close()
        self.made.remove(node)

    async def close(self) -> None:
        for node in self.made:
            await node.cluster.stop()
            await node.writer.stop()
            await node.db.close()


@pytest.fixture
async def nodes(pg_server: PgServer) -> AsyncIterator[Nodes]:
    made = Nodes(pg_server.new_database(), ManualClock())
    yield made
    await made.close()


async def accept(node: Node, n: int) -> list[Event]:
    events = []
    for i in range(n):
        seq = await node.log.allocate_seq()
        event = Event.create(source="test:cluster", event_type="cluster.test",
                             payload={"i": i}).with_changes(seq=seq)
        await node.log.append(event, durable=True, dedup_expires_at=None)
        events.append(event)
    return events


async def test_sequence_numbers_are_unique_across_daemons(nodes: Nodes) -> None:
    a, b = await nodes.make("a"), await nodes.make("b")
    seqs = [await a.log.allocate_seq() for _ in range(40)] + [
        await b.log.allocate_seq() for _ in range(40)]
    assert len(set(seqs)) == 80


async def test_the_first_daemon_leads_and_the_role_moves_when_it_dies(nodes: Nodes) -> None:
    a, b = await nodes.make("a"), await nodes.make("b")
    started: list[str] = []

    async def start_a() -> None:
        started.append("a")

    async def start_b() -> None:
        started.append("b")

    async def stop() -> None:
        pass

    await a.cluster.lead("cron", start_a, stop)
    await b.cluster.lead("cron", start_b, stop)
    assert started == ["a"] and a.cluster.leads("cron") and not b.cluster.leads("cron")
    await b.cluster.tick()
    assert started == ["a"]
    await nodes.kill(a)
    await b.cluster.tick()
    assert started == ["a", "b"] and b.cluster.leads("cron")
    assert b.cluster.status()["leaders"] == {"cron": "b"}


async def test_a_dead_daemons_events_are_taken_over_once_with_their_deliveries(
        nodes: Nodes) -> None:
    a, b, c = await nodes.make("a"), await nodes.make("b"), await nodes.make("c")
    for node in (b, c):
        node.cluster.attach(node.bus)
    events = await accept(a, 30)
    await a.log.record_delivery(events[0], "h1", "ok", 1, durable=True)
    await a.log.record_delivery(events[0], "h2", "running", 2, durable=True)  # cut short
    # While a is alive nobody touches its claims.
    await b.cluster.tick()
    assert b.bus.requeued == []
    await nodes.kill(a)
    nodes.clock.advance(6)  # a's row is now older than dead_after_sec; b and c beat theirs
    await b.cluster.tick()
    await c.cluster.tick()
    taken = b.bus.requeued + c.bus.requeued
    assert sorted(u.event.id for u in taken) == sorted(e.id for e in events)
    first = next(u for u in taken if u.event.id == events[0].id)
    assert first.settled == {"h1"} and first.running == {"h2": 2}
    assert b.cluster.status()["others"][0]["alive"] is False
    for node in (b, c):
        await node.cluster.stop()
        nodes.made.remove(node)
        await node.writer.stop()
        await node.db.close()


async def test_a_slow_daemon_keeps_its_events_until_its_connection_is_gone(nodes: Nodes) -> None:
    # A busy machine can hold a daemon's heartbeat past dead_after_sec while it is still running
    # its events: taking them over then would run their handlers twice.
    a, b = await nodes.make("a"), await nodes.make("b")
    b.cluster.attach(b.bus)
    events = await accept(a, 5)
    nodes.clock.advance(6)  # a's row is late, but its lock connection is up: slow, not dead
    await b.cluster.tick()
    assert b.bus.requeued == []
    assert b.cluster.status()["others"][0]["alive"] is False  # as far as its row tells
    await nodes.kill(a)
    await b.cluster.tick()
    assert [u.event.id for u in b.bus.requeued] == [e.id for e in events]


async def test_a_clean_stop_gives_claims_back_and_leaves_the_table(nodes: Nodes) -> None:
    a, b = await nodes.make("a"), await nodes.make("b")
    b.cluster.attach(b.bus)
    events = await accept(a, 5)
    await a.cluster.stop()
    await b.cluster.tick()  # no death needed: the events are unclaimed
    assert [u.event.id for u in b.bus.requeued] == [e.id for e in events]
    assert [m["name"] for m in b.cluster.status()["others"]] == []


async def test_a_live_name_is_refused_and_a_dead_ones_is_taken_back(nodes: Nodes) -> None:
    a = await nodes.make("a")
    with pytest.raises(StoreError, match="cluster.node_name"):
        await nodes.make("a")
    events = await accept(a, 3)
    await nodes.kill(a)
    nodes.clock.advance(6)
    again = await nodes.make("a")  # the same name after a crash: its events come back at boot
    assert [u.event.id for u in await again.cluster.recover()] == [e.id for e in events]


async def test_dispatches_elsewhere_are_shown_here(nodes: Nodes) -> None:
    a, b = await nodes.make("a"), await nodes.make("b")
    b.cluster.attach(b.bus)
    events = await accept(a, 3)
    for event in events:
        a.log.dispatched(event)
    await wait_for(lambda: len(b.bus.shown) == 3, 30, what="b shows a's dispatched events")
    assert [e.id for e in b.bus.shown] == [e.id for e in events]
    assert a.bus.shown == []  # a daemon does not hear its own notices
