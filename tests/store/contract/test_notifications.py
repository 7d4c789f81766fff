"""Notification repository contract: one per causing event, newest first, pruned to a bound that
never drops an unacknowledged critical."""

from __future__ import annotations

from aman.notifications.model import Notification, Severity
from tests.store.contract.backends import Backend, Repositories


def note(id: str, severity: Severity = Severity.WARNING, *, event_id: str | None = None,
         at: int = 1_000) -> Notification:
    return Notification(id=id, severity=severity, category="dlq", title=f"title {id}",
                        message=f"message {id}", created_at_ms=at, action_route="/dlq",
                        action_label="Open", event_id=event_id)


async def ids(store: Repositories, *, active_only: bool = False,
              severity: Severity | None = None, limit: int = 100, offset: int = 0) -> list[str]:
    found = await store.notifications.list(active_only=active_only, severity=severity,
                                           limit=limit, offset=offset)
    return [n.id for n in found]


async def test_a_notification_comes_back_as_stored(store: Repositories) -> None:
    stored = note("n1", Severity.CRITICAL, event_id="e1")
    await store.notifications.insert(stored, keep=100)
    assert await store.notifications.get("n1") == stored
    assert await store.notifications.get_by_event("e1") == stored
    assert await store.notifications.get("missing") is None
    assert await store.notifications.get_by_event("missing") is None


async def test_one_notification_per_event_id(store: Repositories) -> None:
    await store.notifications.insert(note("n1", event_id="e1"), keep=100)
    await store.notifications.insert(note("n2", event_id="e1"), keep=100)
    await store.notifications.insert(note("n3"), keep=100)
    await store.notifications.insert(note("n4"), keep=100)
    assert await ids(store) == ["n4", "n3", "n1"]
    found = await store.notifications.get_by_event("e1")
    assert found is not None and found.id == "n1"


async def test_listing_is_newest_first_filtered_and_paged(store: Repositories) -> None:
    for i, severity in enumerate((Severity.INFO, Severity.WARNING, Severity.CRITICAL,
                                  Severity.WARNING)):
        await store.notifications.insert(note(f"n{i}", severity), keep=100)
    await store.notifications.mark_read("n3")
    await store.notifications.mark_dismissed("n0")
    assert await ids(store) == ["n3", "n2", "n1", "n0"]
    assert await ids(store, limit=2, offset=1) == ["n2", "n1"]
    assert await ids(store, active_only=True) == ["n2", "n1"]
    assert await ids(store, severity=Severity.WARNING) == ["n3", "n1"]
    assert await ids(store, active_only=True, severity=Severity.WARNING) == ["n1"]


async def test_read_and_dismissed_leave_the_unread_count(store: Repositories) -> None:
    for i in range(3):
        await store.notifications.insert(note(f"n{i}"), keep=100)
    assert await store.notifications.unread_count() == 3
    await store.notifications.mark_read("n0")
    await store.notifications.mark_dismissed("n1")
    await store.notifications.mark_read("missing")
    assert await store.notifications.unread_count() == 1
    read, dismissed = await store.notifications.get("n0"), await store.notifications.get("n1")
    assert read is not None and read.read and not read.dismissed
    assert dismissed is not None and dismissed.dismissed and not dismissed.read


async def test_dismiss_all_counts_and_leaves_criticals(store: Repositories) -> None:
    await store.notifications.insert(note("w1"), keep=100)
    await store.notifications.insert(note("i1", Severity.INFO), keep=100)
    await store.notifications.insert(note("c1", Severity.CRITICAL), keep=100)
    await store.notifications.insert(note("w2"), keep=100)
    await store.notifications.mark_read("w2")
    assert await store.notifications.dismiss_all() == 2
    assert await store.notifications.dismiss_all() == 0
    assert await ids(store, active_only=True) == ["c1"]


async def test_pruning_keeps_the_newest_and_every_active_critical(store: Repositories) -> None:
    await store.notifications.insert(note("c-old", Severity.CRITICAL), keep=3)
    await store.notifications.insert(note("c-acked", Severity.CRITICAL), keep=3)
    await store.notifications.mark_read("c-acked")
    for i in range(5):
        await store.notifications.insert(note(f"w{i}"), keep=3)
    assert await ids(store) == ["w4", "w3", "c-old"]


async def test_notifications_survive_a_restart(store_backend: Backend,
                                               store: Repositories) -> None:
    stored = note("n1", event_id="e1")
    await store.notifications.insert(stored, keep=100)
    reopened = await store_backend.reopen()
    assert await reopened.notifications.get("n1") == stored
    assert await reopened.notifications.unread_count() == 1
