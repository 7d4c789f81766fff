"""NotificationService and its SQLite repository, and the bus subscriber that feeds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aman.clock import SystemClock
from aman.core.runtime import Runtime
from aman.errors import ConflictError, NotFoundError
from aman.events import types as t
from aman.events.model import Event
from aman.notifications.model import Severity
from aman.notifications.service import (
    SUBSCRIBER,
    NotDismissibleError,
    NotificationService,
    notification_for,
)
from aman.store.db import Database
from aman.store.migrate import migrate
from aman.store.notifications import SqlNotificationRepository
from aman.store.writer import BatchWriter
from tests.helpers import wait_for


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[NotificationService]:
    """A service over a real, migrated SQLite file; not subscribed to any bus."""
    db = Database(tmp_path / "notifications.db")
    await db.open()
    writer = BatchWriter(db)
    try:
        await migrate(db)
        await writer.start()
        yield NotificationService(SqlNotificationRepository(db, writer), SystemClock(),
                                  max_stored=10)
    finally:
        await writer.stop()
        await db.close()


async def make(service: NotificationService, severity: Severity = Severity.WARNING,
               **fields: Any) -> Any:
    values: dict[str, Any] = {"category": "test", "title": "t", "message": "m"}
    values.update(fields)
    return await service.create(severity=severity, **values)


def fact(kind: str, /, **payload: Any) -> Event:
    return Event.create(source=t.BUS_SOURCE, event_type=kind, payload=payload)


# --- the service over a real store (the repository's own contract: tests/store/contract) ---------


async def test_create_stores_every_field_and_lists_newest_first(
    service: NotificationService,
) -> None:
    first = await make(service, Severity.INFO, title="first")
    second = await make(service, Severity.CRITICAL, category="dlq", title="second", message="body",
                        action_route="/dlq", action_label="Open DLQ", event_id="ev-1")
    items = await service.list()
    assert [n.id for n in items] == [second.id, first.id]
    stored = items[0]
    assert stored == second
    assert (stored.severity, stored.category, stored.title, stored.message) == (
        Severity.CRITICAL, "dlq", "second", "body")
    assert (stored.action_route, stored.action_label) == ("/dlq", "Open DLQ")
    assert stored.event_id == "ev-1"
    assert stored.created_at_ms > 0 and stored.active and not stored.dismissible
    assert first.dismissible
    assert stored.to_json()["dismissible"] is False and stored.to_json()["severity"] == "critical"


async def test_dismissing_a_critical_is_refused_and_changes_nothing(
    service: NotificationService,
) -> None:
    critical = await make(service, Severity.CRITICAL)
    with pytest.raises(NotDismissibleError) as caught:
        await service.dismiss(critical.id)
    assert isinstance(caught.value, ConflictError)
    assert caught.value.code == "not_dismissible" and "/ack" in caught.value.hint
    assert (await service.get(critical.id)).active
    assert await service.unread_count() == 1


async def test_ack_works_for_any_severity_and_is_idempotent(service: NotificationService) -> None:
    critical = await make(service, Severity.CRITICAL)
    info = await make(service, Severity.INFO)
    assert service.unread_count_cached == 2
    acked = await service.ack(critical.id)
    assert acked.read and not acked.active and not acked.dismissed
    assert (await service.ack(critical.id)).read
    assert service.unread_count_cached == 1 == await service.unread_count()
    dismissed = await service.dismiss(info.id)
    assert dismissed.dismissed and not dismissed.active
    assert (await service.dismiss(info.id)).dismissed
    assert service.unread_count_cached == 0


async def test_unknown_ids_are_not_found(service: NotificationService) -> None:
    for action in (service.dismiss, service.ack, service.get):
        with pytest.raises(NotFoundError):
            await action("nope")


async def test_dismiss_all_counts_and_leaves_criticals(service: NotificationService) -> None:
    critical = await make(service, Severity.CRITICAL)
    await make(service, Severity.WARNING)
    await make(service, Severity.INFO)
    acked = await make(service, Severity.WARNING)
    await service.ack(acked.id)
    assert await service.dismiss_all() == 2
    assert await service.dismiss_all() == 0
    assert [n.id for n in await service.list(active_only=True)] == [critical.id]
    assert service.unread_count_cached == 1


async def test_pruning_keeps_the_newest_and_every_active_critical(
    service: NotificationService,
) -> None:
    critical = await make(service, Severity.CRITICAL, title="old critical")
    for i in range(14):
        await make(service, title=f"n{i}")
    items = await service.list(limit=100)
    assert len(items) == service.max_stored == 10
    assert items[-1].id == critical.id
    assert [n.title for n in items[:9]] == [f"n{i}" for i in range(13, 4, -1)]
    assert service.unread_count_cached == 10


async def test_one_notification_per_event_id(service: NotificationService) -> None:
    first = await make(service, event_id="ev-1", title="first")
    again = await make(service, event_id="ev-1", title="again")
    assert again.id == first.id and again.title == "first"
    assert len(await service.list()) == 1 and service.unread_count_cached == 1
    await make(service)  # no event id: never deduplicated
    await make(service)
    assert len(await service.list()) == 3


# --- which facts become notifications -----------------------------------------------------------


def test_dlq_parked_is_a_warning_pointing_to_the_dlq() -> None:
    spec = notification_for(fact(t.DLQ_PARKED, entry_id="d1", event_id="e1", handler="h",
                                 reason="boom", event_type="x", source="test:a"))
    assert spec is not None
    assert (spec["severity"], spec["category"]) == (Severity.WARNING, "dlq")
    assert spec["action_route"] == "/dlq"
    assert "e1" in spec["message"] and "boom" in spec["message"]


def test_our_own_dead_letters_do_not_loop() -> None:
    parked = fact(t.DLQ_PARKED, entry_id="d1", event_id="e1", handler=SUBSCRIBER,
                  reason="disk full", event_type=t.DLQ_PARKED, source=t.DLQ_SOURCE)
    assert notification_for(parked) is None


@pytest.mark.parametrize(
    ("previous", "level", "severity"),
    [
        ("normal", "l1", None), ("l1", "l2", None),
        ("l2", "l3", Severity.WARNING), ("l3", "l4", Severity.WARNING),
        ("l4", "critical", Severity.CRITICAL), ("normal", "critical", Severity.CRITICAL),
        ("critical", "l4", None), ("l4", "l3", None), ("l3", "l2", None),
    ],
)
def test_backpressure_notifies_only_when_rising_into_l3_or_above(
    previous: str, level: str, severity: Severity | None
) -> None:
    spec = notification_for(fact(t.BACKPRESSURE_CHANGED, level=level, previous=previous,
                                 pending=95, capacity=100))
    assert (spec["severity"] if spec else None) == severity
    if spec:
        assert spec["category"] == "backpressure" and level in spec["title"]


def test_handler_failure_and_expiry_warning_are_warnings() -> None:
    failed = notification_for(fact(t.HANDLER_FAILED, event_id="e1", handler="h", event_type="x",
                                   attempt=1, error="ValueError: no", will_retry=True))
    assert failed is not None
    assert (failed["severity"], failed["category"]) == (Severity.WARNING, "handler")
    assert "ValueError: no" in failed["message"] and "retried" in failed["message"]
    for days in (7, 3, 1):
        expiry = notification_for(fact(t.DLQ_EXPIRY_WARNING, entry_id="d1", days_left=days,
                                       expires_at_ms=0, event_type="x", handler="h"))
        assert expiry is not None and expiry["severity"] is Severity.WARNING
        assert expiry["category"] == "dlq" and f"{days} day" in expiry["title"]


def test_other_events_are_ignored() -> None:
    assert notification_for(fact("file_created", path="/tmp/x")) is None


# --- through the real bus -----------------------------------------------------------------------


async def test_a_parked_event_becomes_one_notification_even_if_redelivered(
    runtime: Runtime,
) -> None:
    assert SUBSCRIBER in runtime.bus.subscriber_names
    event = Event.create(source=t.DLQ_SOURCE, event_type=t.DLQ_PARKED, payload={
        "entry_id": "d1", "event_id": "e1", "handler": "mailer", "reason": "SMTP down",
        "event_type": "message_received", "source": "im:telegram"})
    await runtime.bus.publish(event, internal=True)
    await runtime.bus.wait_idle()
    [notification] = await runtime.notifications.list()
    assert notification.event_id == event.id
    assert notification.category == "dlq" and notification.severity is Severity.WARNING
    assert "SMTP down" in notification.message
    # At-least-once: the same event delivered again (as after a crash) adds nothing.
    assert await runtime.bus.redeliver(event, SUBSCRIBER) == "ok"
    assert len(await runtime.notifications.list()) == 1
    assert runtime.notifications.unread_count_cached == 1


async def test_the_unread_count_survives_a_restart_and_the_subscriber_comes_back(
    runtime: Runtime,
) -> None:
    await runtime.bus.publish(fact(t.BACKPRESSURE_CHANGED, level="critical", previous="l4",
                                   pending=100, capacity=100), internal=True)
    await wait_for(lambda: runtime.notifications.unread_count_cached == 1)
    await runtime.stop()
    assert SUBSCRIBER not in runtime.bus.subscriber_names
    await runtime.start()
    assert SUBSCRIBER in runtime.bus.subscriber_names
    assert runtime.notifications.unread_count_cached == 1
    [critical] = await runtime.notifications.list()
    assert critical.severity is Severity.CRITICAL and critical.category == "backpressure"
