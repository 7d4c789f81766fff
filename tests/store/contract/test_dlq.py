"""DLQ repository contract: parked deliveries, their mutable state and the queue's listings."""

from __future__ import annotations

from dataclasses import replace

from aman.events.model import DlqEntry, DlqQuery, Event
from tests.store.contract.backends import Backend, Repositories

DAY = 86_400_000


def entry(id: str, *, enqueued: int, source: str = "webhook:github", event_type: str = "push",
          reason: str = "handler_error", status: str = "active", expires: int | None = None,
          handler: str = "h") -> DlqEntry:
    event = Event.create(source=source, event_type=event_type, payload={"id": id},
                         max_retries=3, now_ms=enqueued - 10)
    return DlqEntry(id=id, event=event, handler=handler, reason=reason, attempts=4,
                    status=status, enqueued_at_ms=enqueued, updated_at_ms=enqueued,
                    expires_at_ms=expires if expires is not None else enqueued + 7 * DAY,
                    history=[{"ts_ms": enqueued, "action": "parked"}])


async def test_an_entry_comes_back_as_stored(store: Repositories) -> None:
    parked = entry("d1", enqueued=1_000)
    await store.dlq.insert(parked)
    assert await store.dlq.get("d1") == parked
    assert await store.dlq.get("missing") is None


async def test_update_changes_only_the_mutable_fields(store: Repositories) -> None:
    parked = entry("d1", enqueued=1_000)
    await store.dlq.insert(parked)
    changed = replace(parked, reason="timeout", manual_retries=2, status="retrying",
                      warned_days=3, updated_at_ms=5_000,
                      history=[*parked.history, {"ts_ms": 5_000, "action": "retry"}],
                      attempts=99, expires_at_ms=1, enqueued_at_ms=2)
    await store.dlq.update(changed)
    assert await store.dlq.get("d1") == replace(changed, attempts=4,
                                                expires_at_ms=parked.expires_at_ms,
                                                enqueued_at_ms=1_000)


async def test_pages_are_oldest_first_filtered_and_continue_after_a_position(
        store: Repositories) -> None:
    entries = [
        entry("a", enqueued=1_000, source="webhook:github", event_type="push"),
        entry("b", enqueued=2_000, source="Webhook:GitHub", event_type="PUSH", reason="Timeout"),
        entry("c", enqueued=2_000, source="cron:daily", event_type="cron.tick"),
        entry("d", enqueued=3_000, status="resolved"),
        entry("e", enqueued=4_000, status="archived"),
    ]
    for e in entries:
        await store.dlq.insert(e)
    page = await store.dlq.page(DlqQuery(), None, 2)
    assert [e.id for e in page] == ["a", "b"]
    rest = await store.dlq.page(DlqQuery(), (page[-1].enqueued_at_ms, page[-1].id), 10)
    assert [e.id for e in rest] == ["c"]
    github = await store.dlq.page(DlqQuery(source="webhook:github", event_type="push"), None, 10)
    assert [e.id for e in github] == ["a", "b"]
    timeouts = await store.dlq.page(DlqQuery(reason="timeout"), None, 10)
    assert [e.id for e in timeouts] == ["b"]
    assert [e.id for e in await store.dlq.page(DlqQuery(status="archived"), None, 10)] == ["e"]


async def test_depth_counts_entries_still_waiting_for_a_decision(store: Repositories) -> None:
    assert await store.dlq.depth() == 0
    for i, status in enumerate(("active", "retrying", "resolved", "discarded", "archived",
                                "active")):
        await store.dlq.insert(entry(f"d{i}", enqueued=1_000 + i, status=status))
    assert await store.dlq.depth() == 3


async def test_expiring_lists_active_entries_soonest_first(store: Repositories) -> None:
    await store.dlq.insert(entry("late", enqueued=1, expires=9_000))
    await store.dlq.insert(entry("soon", enqueued=2, expires=3_000))
    await store.dlq.insert(entry("edge", enqueued=3, expires=10_000))
    await store.dlq.insert(entry("done", enqueued=4, expires=1_000, status="resolved"))
    found = await store.dlq.active_expiring_before(10_000)
    assert [e.id for e in found] == ["soon", "late"]


async def test_entries_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    parked = entry("d1", enqueued=1_000)
    await store.dlq.insert(parked)
    reopened = await store_backend.reopen()
    assert await reopened.dlq.get("d1") == parked
    assert await reopened.dlq.depth() == 1
