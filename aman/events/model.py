"""The event: an immutable, typed record of something that happened, with causality ids.

Wire shape (JSON): ``id`` (UUIDv7), ``source`` (``kind:name``), ``event_type``, ``timestamp``
(epoch ms), ``priority``, ``delivery``, ``dedup_key``, ``agent_id``, ``payload`` (object) and
``metadata`` (``trace_id``, ``parent_event_id``, ``retry_count``, ``max_retries``, ``ttl_ms``,
``created_at``). ``seq`` is the bus's acceptance order, used for SSE ids and resumption.
An ``Unfinished`` is a guaranteed event found not done at recovery or takeover, with what its
deliveries had reached. A ``DlqEntry`` is a delivery parked in the DLQ with the event it failed on.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from aman.ids import uuid7

#: Retries a failing handler gets before the delivery is parked in the DLQ.
DEFAULT_MAX_RETRIES = 3


class Priority(enum.Enum):
    """Dispatch priority: only orders the queue."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for high, 2 for low: smaller dispatches first."""
        return _RANK[self]

    def demoted(self) -> Priority:
        """One step lower (low stays low)."""
        return {Priority.HIGH: Priority.NORMAL}.get(self, Priority.LOW)


_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}


class Delivery(enum.Enum):
    """Delivery guarantee: decides what is written before accepting and what may be dropped."""

    AT_MOST_ONCE = "at_most_once"
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"

    @property
    def guaranteed(self) -> bool:
        """Committed to disk before the publisher is answered."""
        return self is not Delivery.AT_MOST_ONCE


@dataclass(frozen=True, kw_only=True)
class EventMetadata:
    """Causality and lifetime of an event."""

    trace_id: str
    parent_event_id: str | None = None
    retry_count: int = 0
    max_retries: int | None = None  # None: the bus's event_bus.max_retries, filled at publish
    ttl_ms: int | None = None
    created_at: int = 0

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "trace_id": self.trace_id,
            "parent_event_id": self.parent_event_id,
            "retry_count": self.retry_count,
            "max_retries": self.max_retries,
            "ttl_ms": self.ttl_ms,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, kw_only=True)
class Event:
    """One immutable event."""

    id: str
    source: str
    event_type: str
    timestamp: int
    priority: Priority = Priority.NORMAL
    delivery: Delivery = Delivery.AT_LEAST_ONCE
    dedup_key: str | None = None
    agent_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: EventMetadata
    seq: int = 0

    @classmethod
    def create(
        cls,
        *,
        source: str,
        event_type: str,
        payload: dict[str, Any] | None = None,
        priority: Priority = Priority.NORMAL,
        delivery: Delivery = Delivery.AT_LEAST_ONCE,
        dedup_key: str | None = None,
        agent_id: str | None = None,
        trace_id: str | None = None,
        parent: Event | None = None,
        parent_event_id: str | None = None,
        max_retries: int | None = None,
        ttl_ms: int | None = None,
        now_ms: int | None = None,
    ) -> Event:
        """A new event; a ``parent`` lends its trace id and becomes ``parent_event_id``."""
        if not source.strip():
            raise ValueError("source must not be empty")
        if not event_type.strip():
            raise ValueError("event_type must not be empty")
        event_id = uuid7()
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        if parent is not None:
            trace_id = trace_id or parent.metadata.trace_id
            parent_event_id = parent_event_id or parent.id
        return cls(
            id=event_id,
            source=source,
            event_type=event_type,
            timestamp=now,
            priority=priority,
            delivery=delivery,
            dedup_key=dedup_key,
            agent_id=agent_id,
            payload=dict(payload or {}),
            metadata=EventMetadata(
                trace_id=trace_id or uuid7(),
                parent_event_id=parent_event_id,
                max_retries=max_retries,
                ttl_ms=ttl_ms,
                created_at=now,
            ),
        )

    @property
    def trace_id(self) -> str:
        """Shortcut to ``metadata.trace_id``."""
        return self.metadata.trace_id

    def expired(self, now_ms: int) -> bool:
        """Whether ``ttl_ms`` has passed since creation."""
        ttl = self.metadata.ttl_ms
        return ttl is not None and now_ms - self.metadata.created_at > ttl

    def with_changes(self, **changes: Any) -> Event:
        """A copy with fields replaced (events are immutable)."""
        return replace(self, **changes)

    def to_json(self, *, include_payload: bool = True) -> dict[str, Any]:
        """Wire shape; ``include_payload=False`` gives the envelope only."""
        body: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "source": self.source,
            "event_type": self.event_type,
            "timestamp": self.timestamp,
            "priority": self.priority.value,
            "delivery": self.delivery.value,
            "dedup_key": self.dedup_key,
            "agent_id": self.agent_id,
            "metadata": self.metadata.to_json(),
        }
        if include_payload:
            body["payload"] = self.payload
        return body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """Rebuild an event stored with ``to_json``."""
        meta = data.get("metadata") or {}
        return cls(
            id=data["id"],
            seq=int(data.get("seq") or 0),
            source=data["source"],
            event_type=data.get("event_type") or data["type"],
            timestamp=int(data["timestamp"]),
            priority=Priority(data.get("priority", "normal")),
            delivery=Delivery(data.get("delivery", "at_least_once")),
            dedup_key=data.get("dedup_key"),
            agent_id=data.get("agent_id"),
            payload=dict(data.get("payload") or {}),
            metadata=EventMetadata(
                trace_id=meta["trace_id"],
                parent_event_id=meta.get("parent_event_id"),
                retry_count=int(meta.get("retry_count", 0)),
                max_retries=(int(meta["max_retries"]) if meta.get("max_retries") is not None
                             else DEFAULT_MAX_RETRIES),
                ttl_ms=meta.get("ttl_ms"),
                created_at=int(meta.get("created_at", data["timestamp"])),
            ),
        )


class Unfinished(NamedTuple):
    """A guaranteed event accepted but not done when its daemon stopped, as claimed back."""

    event: Event
    #: Handlers whose delivery settled (ok or dead): never delivered again.
    settled: set[str]
    #: Exactly-once handlers that were running when the daemon stopped, with that attempt's
    #: number: parked in the DLQ as interrupted, never run again on their own.
    running: dict[str, int]

    @classmethod
    def of(cls, event: Event, deliveries: Iterable[tuple[str, str, int]]) -> Unfinished:
        """Sort ``(handler, status, attempts)`` delivery rows. ``ok`` and ``dead`` settle a
        delivery. Only exactly-once ones are also recorded ``running`` (committed before the
        handler is called) and ``failed`` (before the backoff of a retry): run again."""
        settled: set[str] = set()
        running: dict[str, int] = {}
        for handler, status, attempts in deliveries:
            if status in ("ok", "dead"):
                settled.add(handler)
            elif status == "running":
                running[handler] = int(attempts)
        return cls(event, settled, running)


@dataclass(frozen=True, kw_only=True)
class DlqEntry:
    """One parked delivery."""

    id: str
    event: Event
    handler: str
    reason: str
    attempts: int
    manual_retries: int = 0
    status: str = "active"
    enqueued_at_ms: int
    expires_at_ms: int
    updated_at_ms: int
    warned_days: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "id": self.id,
            "event_id": self.event.id,
            "handler": self.handler,
            "source": self.event.source,
            "event_type": self.event.event_type,
            "reason": self.reason,
            "attempts": self.attempts,
            "manual_retries": self.manual_retries,
            "status": self.status,
            "enqueued_at_ms": self.enqueued_at_ms,
            "expires_at_ms": self.expires_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "history": self.history,
            "event": self.event.to_json(),
        }


@dataclass(frozen=True, kw_only=True)
class DlqQuery:
    """List filters (case-insensitive equality) and the status to show."""

    reason: str | None = None
    source: str | None = None
    event_type: str | None = None
    status: str = "active"
