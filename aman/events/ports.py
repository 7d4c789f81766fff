"""The event bus's ports: the storage it writes through, the DLQ it hands failures to, and the
one narrow view of the bus that services emitting facts depend on.

Kept apart from ``aman.events.bus`` so the bus module holds behaviour only (one concept per
module, modules stay small); the SQLite repositories implement these structurally.
"""

from __future__ import annotations

from typing import Any, Protocol

from aman.events.model import Event


class FactEmitter(Protocol):
    """The part of the event bus a service needs to publish its facts (``EventBus.emit``)."""

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = ...) -> None:
        """Publish a fact in the background."""
        ...


class EventLog(Protocol):
    """Storage port of the bus: events, their trace steps, deliveries and dedup keys."""

    async def append(self, event: Event, *, durable: bool, dedup_expires_at: int | None) -> None:
        """Store an accepted event; when ``durable`` return only once committed."""
        ...

    def record_step(self, event: Event, step: str, *, handler: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Add a trace step (written in the next batch)."""
        ...

    async def record_delivery(self, event: Event, handler: str, status: str, attempts: int,
                              *, durable: bool) -> None:
        """Record a settled delivery (ok or dead)."""
        ...

    def record_step_of(self, event_id: str, step: str,
                       detail: dict[str, Any] | None = None) -> None:
        """Add a trace step to a stored event known only by id."""
        ...

    def mark_status(self, event: Event, status: str) -> None:
        """Set the event's life status: done, expired or dropped."""
        ...

    async def pending(self) -> list[tuple[Event, set[str]]]:
        """Guaranteed events not yet done, oldest first, with handlers already settled."""
        ...

    async def dedup_lookup(self, key: str, now_ms: int) -> str | None:
        """The event id holding ``key`` within its window, if any."""
        ...

    async def max_seq(self) -> int:
        """Highest acceptance sequence number stored."""
        ...


class DeadLetterPort(Protocol):
    """Where deliveries that exhausted their retries go."""

    async def park(self, event: Event, handler: str, reason: str, attempts: int) -> str:
        """Store the failed delivery durably; return the entry id."""
        ...
