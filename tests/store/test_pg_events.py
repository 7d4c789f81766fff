"""The PostgreSQL event log's merged writes: status changes and dispatch notices queued between
two commits become one statement each, and the other daemons still hear every event."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aman.events.model import Event
from aman.store.pg.cluster import PgCoordination
from aman.store.pg.db import PgDatabase
from aman.store.pg.events import PgEventLog
from aman.store.pg.migrate import migrate_pg
from aman.store.writer import BatchWriter
from tests.helpers import wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

NAME = "host:8080"  # the default node name holds a ':'


@pytest.fixture
async def url(pg_server: PgServer) -> str:
    return pg_server.new_database()


@pytest.fixture
async def log(url: str) -> AsyncIterator[PgEventLog]:
    db = PgDatabase(url)
    await db.open()
    await migrate_pg(db)
    writer = BatchWriter(db)
    await writer.start()
    yield PgEventLog(db, writer, claimant=NAME)
    await writer.stop()
    await db.close()


async def accepted(log: PgEventLog, count: int) -> list[Event]:
    events = []
    for n in range(count):
        made = Event.create(source="test:pg", event_type="test.happened", payload={"n": n},
                            max_retries=3, now_ms=1_000 + n)
        event = made.with_changes(seq=await log.allocate_seq())
        await log.append(event, durable=True, dedup_expires_at=None)
        events.append(event)
    return events


async def test_every_dispatched_event_is_heard_by_the_other_daemons(
        log: PgEventLog, url: str) -> None:
    heard: list[tuple[str, list[int]]] = []
    other = PgCoordination(url)
    await other.open(lambda origin, seqs: heard.append((origin, seqs)))
    try:
        events = await accepted(log, 700)  # more than one notice's worth
        for event in events:
            log.dispatched(event)
        await log.record_delivery(events[0], "h", "done", 1, durable=True)  # one more commit
        want = [e.seq for e in events]
        await wait_for(lambda: [s for _, ss in heard for s in ss] == want,
                       what="every seq heard once, in order")
        assert {origin for origin, _ in heard} == {NAME}
        assert 3 <= len(heard) < len(events)  # merged, and each notice under the size limit
    finally:
        await other.close()


async def test_status_changes_queued_together_end_at_the_last_one(log: PgEventLog) -> None:
    first, second, third = await accepted(log, 3)
    # Both orders of the two statuses' statements: each event's last change wins.
    log.mark_status(second, "expired")
    log.mark_status(first, "done")
    log.mark_status(second, "done")
    log.mark_status(first, "expired")
    await log.record_delivery(third, "h", "done", 1, durable=True)  # commits the queue
    log.mark_status(third, "done")  # after that commit: a statement of its own
    await log.record_delivery(third, "h2", "done", 1, durable=True)
    statuses = {row["id"]: row["status"] for row in await log.recent(10)}
    assert statuses == {first.id: "expired", second.id: "done", third.id: "done"}
