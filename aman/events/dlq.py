"""DeadLetterService: deliveries that exhausted their retries, kept until someone decides.

Entries are never silently deleted: a manual retry re-delivers the event to the handler that
failed (same event, same trace) and either resolves the entry or returns it with its manual retry
count raised; discard and expiry move entries out of the active queue (expiry into the archive),
with warnings at 7, 3 and 1 days left.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aman.clock import Clock
from aman.core.lifecycle import TaskTracker
from aman.errors import ConflictError, NotFoundError, UnrecoverableError
from aman.events import types as t
from aman.events.model import DlqEntry, DlqQuery, Event
from aman.events.ports import DlqRepository
from aman.ids import uuid7

if TYPE_CHECKING:
    from aman.events.bus import EventBus

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: Days-left thresholds at which an expiry warning is sent, once each.
WARN_DAYS = (7, 3, 1)


class DeadLetterService:
    """Parks failed deliveries and carries out decisions about them."""

    def __init__(self, repository: DlqRepository, bus: EventBus, clock: Clock, tasks: TaskTracker,
                 *, ttl_days: float, max_manual_retries: int) -> None:
        self._repo = repository
        self._bus = bus
        self._clock = clock
        self._tasks = tasks
        self.ttl_ms = int(ttl_days * DAY_MS)
        self.max_manual_retries = max_manual_retries
        self.depth_cache = 0

    async def start(self) -> None:
        """Load the depth shown in metrics."""
        self.depth_cache = await self._repo.depth()

    async def park(self, event: Event, handler: str, reason: str, attempts: int) -> str:
        """Store a failed delivery (the bus's DLQ port) and announce it."""
        now = self._clock.now_ms()
        entry = DlqEntry(id=uuid7(), event=event, handler=handler, reason=reason, attempts=attempts,
                         enqueued_at_ms=now, expires_at_ms=now + self.ttl_ms, updated_at_ms=now,
                         history=[{"ts_ms": now, "action": "parked", "operator": "system",
                                   "outcome": reason}])
        await self._repo.insert(entry)
        self.depth_cache += 1
        if event.source in t.SYSTEM_SOURCES:
            # A parked fact must not announce itself again: that would loop for a handler that
            # fails on everything.
            return entry.id
        self._bus.emit(t.DLQ_PARKED,
                       {"entry_id": entry.id, "event_id": event.id, "handler": handler,
                        "reason": reason, "event_type": event.event_type,
                        "source": event.source}, source=t.DLQ_SOURCE, cause=event)
        return entry.id

    async def get(self, entry_id: str) -> DlqEntry:
        """One entry, or ``NotFoundError``."""
        entry = await self._repo.get(entry_id)
        if entry is None:
            raise NotFoundError(f"no DLQ entry {entry_id!r}", hint="GET /dlq lists the entries.")
        return entry

    async def page(self, query: DlqQuery, after: tuple[int, str] | None, limit: int
                   ) -> tuple[list[DlqEntry], tuple[int, str] | None]:
        """A page of entries and the position to continue after, if more exist."""
        rows = await self._repo.page(query, after, limit + 1)
        page = rows[:limit]
        more = len(rows) > limit and page
        return page, ((page[-1].enqueued_at_ms, page[-1].id) if more else None)

    async def depth(self) -> int:
        """Entries waiting for a decision."""
        self.depth_cache = await self._repo.depth()
        return self.depth_cache

    async def retry(self, entry_id: str, *, operator: str, reason: str | None = None) -> DlqEntry:
        """Re-deliver to the failed handler in the background; the entry shows ``retrying``."""
        entry = await self.get(entry_id)
        if entry.status == "retrying":
            raise ConflictError(f"DLQ entry {entry_id} is already being retried",
                                hint="Wait for the retry to finish (GET /dlq/{id} shows it).")
        if entry.status != "active":
            raise ConflictError(
                f"DLQ entry {entry_id} is {entry.status}; only active entries retry")
        if entry.manual_retries >= self.max_manual_retries:
            raise UnrecoverableError(
                f"DLQ entry {entry_id} failed {entry.manual_retries} manual retries "
                f"(dlq.max_manual_retries = {self.max_manual_retries})"
            )
        now = self._clock.now_ms()
        retrying = replace(entry, status="retrying", updated_at_ms=now, history=[
            *entry.history, {"ts_ms": now, "action": "retry", "operator": operator,
                             "outcome": "started", "reason": reason or "manual retry"}])
        await self._repo.update(retrying)
        outcome = self._bus.redeliver(entry.event, entry.handler)
        self._tasks.spawn(f"dlq-retry:{entry_id}", self._finish_retry(retrying, outcome))
        return retrying

    async def _finish_retry(self, entry: DlqEntry, outcome: Any) -> None:
        result: str = await outcome
        now = self._clock.now_ms()
        if result == "ok":
            done = replace(entry, status="resolved", updated_at_ms=now, history=[
                *entry.history, {"ts_ms": now, "action": "retry", "operator": "system",
                                 "outcome": "ok"}])
        else:
            done = replace(entry, status="active", reason=result,
                           manual_retries=entry.manual_retries + 1, updated_at_ms=now,
                           history=[*entry.history, {"ts_ms": now, "action": "retry",
                                                     "operator": "system", "outcome": result}])
        await self._repo.update(done)
        await self.depth()

    async def discard(self, entry_id: str, *, operator: str) -> DlqEntry:
        """Take an entry out of the queue for good; return it."""
        entry = await self.get(entry_id)
        if entry.status not in ("active",):
            raise ConflictError(f"DLQ entry {entry_id} is {entry.status}; only active entries "
                                "can be discarded")
        now = self._clock.now_ms()
        discarded = replace(entry, status="discarded", updated_at_ms=now, history=[
            *entry.history, {"ts_ms": now, "action": "discard", "operator": operator,
                             "outcome": "ok"}])
        await self._repo.update(discarded)
        await self.depth()
        return discarded

    async def sweep(self) -> tuple[int, int]:
        """Archive expired entries and send due expiry warnings; return (archived, warned)."""
        now = self._clock.now_ms()
        archived = warned = 0
        for entry in await self._repo.active_expiring_before(now + WARN_DAYS[0] * DAY_MS):
            if entry.expires_at_ms <= now:
                await self._repo.update(replace(entry, status="archived", updated_at_ms=now,
                                                history=[*entry.history, {"ts_ms": now,
                                                         "action": "archive", "operator": "system",
                                                         "outcome": "expired"}]))
                self._bus.emit(t.DLQ_ARCHIVED, {"entry_id": entry.id, "event_id": entry.event.id},
                               source=t.DLQ_SOURCE)
                archived += 1
                continue
            days_left = (entry.expires_at_ms - now) / DAY_MS
            due = min((d for d in WARN_DAYS if days_left <= d), default=None)
            if due is not None and (entry.warned_days is None or due < entry.warned_days):
                await self._repo.update(replace(entry, warned_days=due))
                self._bus.emit(t.DLQ_EXPIRY_WARNING, {
                    "entry_id": entry.id, "days_left": due, "expires_at_ms": entry.expires_at_ms,
                    "event_type": entry.event.event_type, "handler": entry.handler,
                }, source=t.DLQ_SOURCE)
                warned += 1
        if archived:
            await self.depth()
        return archived, warned

