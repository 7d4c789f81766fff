"""NotificationService: what an operator should look at, stored in SQLite and fed by the bus.

A notification is *active* until it is acknowledged (``ack``, any severity) or dismissed
(``dismiss``, not for criticals); the unread count is the number of active ones. One bus
subscriber named ``notifications`` turns runtime facts into notifications:

===========================  ============================  ==============
event                        severity                      category
===========================  ============================  ==============
``dlq.parked``               warning                       ``dlq``
``dlq.expiry_warning``       warning (7, 3 and 1 days)     ``dlq``
``bus.backpressure_changed`` rising into l3/l4: warning,   ``backpressure``
                             into critical: critical
``bus.handler_failed``       warning                       ``handler``
``cron.failed``              warning                       ``cron``
``llm.backend_down``         critical                      ``llm``
``llm.backend_recovered``    info                          ``llm``
===========================  ============================  ==============

Every one stores the id of the event that caused it, and the store keeps at most one
notification per event id, so an at-least-once redelivery after a crash adds nothing.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aman.clock import Clock
from aman.cron.model import CRON_FAILED
from aman.errors import ConflictError, NotFoundError
from aman.events import types as t
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.ids import uuid7
from aman.notifications.model import Notification, NotificationRepository, Severity

if TYPE_CHECKING:
    from aman.events.bus import EventBus

log = logging.getLogger(__name__)

#: The one bus subscriber this service registers.
SUBSCRIBER = "notifications"
#: The LLM registry's facts (aman.llm.registry; named here so this module stays free of it).
LLM_BACKEND_DOWN = "llm.backend_down"
LLM_BACKEND_RECOVERED = "llm.backend_recovered"
#: Facts that may become notifications; everything else never reaches the handler.
WATCHED_TYPES = frozenset({t.DLQ_PARKED, t.DLQ_EXPIRY_WARNING, t.BACKPRESSURE_CHANGED,
                           t.HANDLER_FAILED, CRON_FAILED, LLM_BACKEND_DOWN,
                           LLM_BACKEND_RECOVERED})
WORKFLOW_STATE_CHANGED = t.WORKFLOW_STATE_CHANGED
#: Backpressure levels worth telling a person about ("backpressure l3+").
_LOUD_LEVELS = ("l3", "l4", "critical")
_LEVEL_ORDER = ("normal", "l1", "l2", "l3", "l4", "critical")
#: Where DLQ notifications point the UI.
DLQ_ROUTE = "/dlq"


class NotDismissibleError(ConflictError):
    """A critical notification cannot be dismissed, only acknowledged."""

    code = "not_dismissible"
    hint = "Critical notifications must be acknowledged: POST /notifications/{id}/ack."


class NotificationService:
    """Creates, lists and settles notifications; subscribes to the bus facts that produce them."""

    def __init__(self, repository: NotificationRepository, clock: Clock, *,
                 max_stored: int) -> None:
        self._repo = repository
        self._clock = clock
        self.max_stored = max_stored
        self._unread = 0
        # Serializes change + count refresh, so the cached count is never older than a change
        # and dismiss_all counts exactly what it dismissed.
        self._lock = asyncio.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, bus: EventBus) -> None:
        """Load the unread count and subscribe to the facts that become notifications."""
        self._unread = await self._repo.unread_count()
        self._unsubscribe = bus.subscribe(SUBSCRIBER, self._on_event, _Watched())

    async def stop(self) -> None:
        """Unsubscribe (a later start subscribes again)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- reads ---------------------------------------------------------------------------

    @property
    def unread_count_cached(self) -> int:
        """Active notifications as of the last change; no I/O (the SSE snapshot reads it)."""
        return self._unread

    async def unread_count(self) -> int:
        """Active notifications, read from the store (and refreshing the cache)."""
        self._unread = await self._repo.unread_count()
        return self._unread

    async def get(self, notification_id: str) -> Notification:
        """One notification, or ``NotFoundError``."""
        found = await self._repo.get(notification_id)
        if found is None:
            raise NotFoundError(f"no notification {notification_id!r}",
                                hint="GET /notifications lists the stored notifications.")
        return found

    async def list(self, *, active_only: bool = False, severity: Severity | None = None,
                   limit: int = 50, offset: int = 0) -> builtins.list[Notification]:
        """Newest first."""
        return await self._repo.list(active_only=active_only, severity=severity, limit=limit,
                                     offset=offset)

    # --- changes -------------------------------------------------------------------------

    async def create(
        self,
        *,
        severity: Severity,
        category: str,
        title: str,
        message: str,
        action_route: str | None = None,
        action_label: str | None = None,
        event_id: str | None = None,
    ) -> Notification:
        """Store a new notification, pruning the oldest beyond ``max_stored``.

        With an ``event_id`` that already has a notification, nothing is added and the existing
        one is returned (redelivery after a crash).
        """
        notification = Notification(
            id=uuid7(), severity=severity, category=category, title=title, message=message,
            created_at_ms=self._clock.now_ms(), action_route=action_route,
            action_label=action_label, event_id=event_id,
        )
        async with self._lock:
            await self._repo.insert(notification, keep=self.max_stored)
            await self._refresh()
        if event_id is not None:
            stored = await self._repo.get_by_event(event_id)
            if stored is not None:
                return stored
        return notification

    async def dismiss(self, notification_id: str) -> Notification:
        """Dismiss a warning or info; a critical raises ``NotDismissibleError`` (409)."""
        async with self._lock:
            found = await self.get(notification_id)
            if not found.dismissible:
                raise NotDismissibleError(
                    f"notification {notification_id} is critical and cannot be dismissed",
                    hint=f"Acknowledge it instead: POST /notifications/{notification_id}/ack.",
                )
            if not found.dismissed:
                await self._repo.mark_dismissed(notification_id)
                await self._refresh()
        return await self.get(notification_id)

    async def ack(self, notification_id: str) -> Notification:
        """Acknowledge a notification of any severity: it is read and no longer active."""
        async with self._lock:
            found = await self.get(notification_id)
            if not found.read:
                await self._repo.mark_read(notification_id)
                await self._refresh()
        return await self.get(notification_id)

    async def dismiss_all(self) -> int:
        """Dismiss every active warning and info; criticals stay. Return how many."""
        async with self._lock:
            count = await self._repo.dismiss_all()
            if count:
                await self._refresh()
        return count

    async def _refresh(self) -> None:
        self._unread = await self._repo.unread_count()

    # --- the bus subscriber ----------------------------------------------------------------

    async def _on_event(self, event: Event) -> None:
        """Turn one fact into at most one notification (idempotent per event id)."""
        spec = notification_for(event)
        if spec is not None:
            await self.create(**spec, event_id=event.id)


class _Watched:
    """The facts worth a notification: the watched types, and workflows entering their error state
    (filtered here so ordinary transitions never reach this subscriber)."""

    _types = EventFilter(event_types=WATCHED_TYPES)

    def matches(self, event: Event) -> bool:
        if event.event_type == WORKFLOW_STATE_CHANGED:
            return event.payload.get("is_error") is True
        return self._types.matches(event)


def notification_for(event: Event) -> dict[str, Any] | None:
    """The notification fields for a bus fact, or ``None`` when it is not worth one."""
    p = event.payload
    if event.event_type == t.DLQ_PARKED:
        if p.get("handler") == SUBSCRIBER:
            # Our own delivery failed (store trouble). A notification about it would be parked
            # the same way and loop; the DLQ entry already records it.
            log.warning("a notification could not be stored and went to the DLQ: %s",
                        p.get("reason"))
            return None
        return {
            "severity": Severity.WARNING, "category": "dlq",
            "title": f"Event dead-lettered by handler {p.get('handler')}",
            "message": (f"Event {p.get('event_id')} ({p.get('event_type')} from "
                        f"{p.get('source')}) went to the DLQ: {p.get('reason')}"),
            "action_route": DLQ_ROUTE, "action_label": "Open DLQ",
        }
    if event.event_type == t.DLQ_EXPIRY_WARNING:
        days = p.get("days_left")
        return {
            "severity": Severity.WARNING, "category": "dlq",
            "title": f"DLQ entry expires in {days} day(s)",
            "message": (f"DLQ entry {p.get('entry_id')} ({p.get('event_type')}, handler "
                        f"{p.get('handler')}) is archived in {days} day(s) unless it is "
                        "retried or discarded."),
            "action_route": DLQ_ROUTE, "action_label": "Open DLQ",
        }
    if event.event_type == t.BACKPRESSURE_CHANGED:
        level, previous = str(p.get("level")), str(p.get("previous"))
        if level not in _LOUD_LEVELS or not _rising(previous, level):
            return None  # falling levels are recovery, not news
        refusing = ("low-priority events are refused" if level == "critical"
                    else "guaranteed events are refused with 503")
        return {
            "severity": Severity.CRITICAL if level == "critical" else Severity.WARNING,
            "category": "backpressure",
            "title": f"Event queue backpressure {level}",
            "message": (f"The event queue holds {p.get('pending')} of {p.get('capacity')} "
                        f"events (was {previous}); {refusing}."),
        }
    if event.event_type == t.HANDLER_FAILED:
        retry = "it will be retried" if p.get("will_retry") else "no retries left"
        return {
            "severity": Severity.WARNING, "category": "handler",
            "title": f"Handler {p.get('handler')} failed",
            "message": (f"Handler {p.get('handler')} failed on {p.get('event_type')} event "
                        f"{p.get('event_id')} (attempt {p.get('attempt')}): {p.get('error')}; "
                        f"{retry}."),
        }
    if event.event_type == CRON_FAILED:  # a job's firing was refused by the bus
        return {
            "severity": Severity.WARNING, "category": "cron",
            "title": f"Cron job {p.get('job_id')} could not fire",
            "message": (f"The {p.get('event_type')} event of cron job {p.get('job_id')} "
                        f"scheduled at {p.get('scheduled_at')} was refused: "
                        f"{p.get('error')}. The run is recorded as failed."),
            "action_route": f"/cron/{p.get('job_id')}/runs", "action_label": "Open runs",
        }
    if event.event_type == LLM_BACKEND_DOWN:  # 3 consecutive failures
        return {
            "severity": Severity.CRITICAL, "category": "llm",
            "title": f"llm_backend_down: LLM provider {p.get('provider')} is down",
            "message": (f"LLM provider {p.get('provider')} failed {p.get('failures')} times in a "
                        f"row; last error ({p.get('code')}): {p.get('error')}. Chats use its "
                        "fallbacks if it has any."),
            "action_route": "/health/llm", "action_label": "Check LLM health",
        }
    if event.event_type == LLM_BACKEND_RECOVERED:
        return {
            "severity": Severity.INFO, "category": "llm",
            "title": f"llm_backend_recovered: LLM provider {p.get('provider')} answers again",
            "message": f"LLM provider {p.get('provider')} succeeded after being down.",
        }
    if event.event_type == WORKFLOW_STATE_CHANGED and p.get("is_error"):
        return {
            "severity": Severity.WARNING, "category": "workflow",
            "title": f"Workflow {p.get('workflow')} entered its error state",
            "message": (f"Instance {p.get('instance_id')} moved from {p.get('from')} to "
                        f"{p.get('to')} ({p.get('reason')}): {p.get('error') or 'no detail'}. "
                        "Retry or cancel it once the cause is fixed."),
            "action_route": f"/workflow-instance/{p.get('instance_id')}",
            "action_label": "Open instance",
        }
    return None


def _rising(previous: str, level: str) -> bool:
    if previous not in _LEVEL_ORDER:
        return True
    return _LEVEL_ORDER.index(level) > _LEVEL_ORDER.index(previous)
