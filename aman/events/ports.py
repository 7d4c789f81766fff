"""The events package's ports: the storage the bus writes through (and the routes, the stream and
retention read), the DLQ it hands failures to, the storage of DLQ entries, and the one narrow
view of the bus that services emitting facts depend on.

Kept apart from ``aman.events.bus`` so the bus module holds behaviour only; the store's
repositories implement these structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aman.events.model import DlqEntry, DlqQuery, Event, Unfinished


class FactEmitter(Protocol):
    """The part of the event bus a service needs to publish its facts (``EventBus.emit``)."""

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = ...) -> None:
        """Publish a fact in the background."""
        ...


class EventLog(Protocol):
    """Storage port of the bus: events, their trace steps, deliveries and dedup keys."""

    async def append(self, event: Event, *, durable: bool, dedup_expires_at: int | None,
                     claimant: str | None = None) -> None:
        """Store an accepted event; when ``durable`` return only once committed. ``claimant``
        claims it for another than this daemon (the daemon leading a cluster role)."""
        ...

    def record_step(self, event: Event, step: str, *, handler: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Add a trace step (written in the next batch)."""
        ...

    async def record_delivery(self, event: Event, handler: str, status: str, attempts: int,
                              *, durable: bool) -> None:
        """Record a delivery's status: ok or dead once settled; for exactly-once events also
        running (before the handler is called) and failed (before a retry waits)."""
        ...

    def record_step_of(self, event_id: str, step: str,
                       detail: dict[str, Any] | None = None) -> None:
        """Add a trace step to a stored event known only by id."""
        ...

    def mark_status(self, event: Event, status: str) -> None:
        """Set the event's life status: done, expired or dropped."""
        ...

    async def allocate_seq(self) -> int:
        """The next acceptance sequence number (unique across daemons sharing the store)."""
        ...

    def dispatched(self, event: Event) -> None:
        """Let other daemons sharing the store show ``event`` to their stream clients."""
        ...

    async def dedup_lookup(self, key: str, now_ms: int) -> str | None:
        """The event id holding ``key`` within its window, if any."""
        ...


class DeadLetterPort(Protocol):
    """Where deliveries that exhausted their retries go."""

    async def park(self, event: Event, handler: str, reason: str, attempts: int) -> str:
        """Store the failed delivery durably; return the entry id."""
        ...


class DlqRepository(Protocol):
    """Storage port for DLQ entries."""

    async def insert(self, entry: DlqEntry) -> None:
        """Store a new entry durably."""
        ...

    async def update(self, entry: DlqEntry) -> None:
        """Replace an entry's mutable fields durably."""
        ...

    async def get(self, entry_id: str) -> DlqEntry | None:
        """One entry."""
        ...

    async def page(self, query: DlqQuery, after: tuple[int, str] | None,
                   limit: int) -> list[DlqEntry]:
        """Entries oldest first after the (enqueued_at, id) position."""
        ...

    async def depth(self) -> int:
        """Entries still waiting for a decision (active or being retried)."""
        ...

    async def active_expiring_before(self, when_ms: int) -> list[DlqEntry]:
        """Active entries whose expiry is before ``when_ms``."""
        ...


class EventStore(EventLog, Protocol):
    """The whole event log: the bus's port plus the reads of the event routes, the stream's
    replay and retention."""

    async def max_seq(self) -> int:
        """Highest acceptance sequence number stored."""
        ...

    async def claim_pending(self, claimant: str, orphans_of: Sequence[str], limit: int, *,
                            skip_sources: Sequence[str] = ()) -> list[Unfinished]:
        """Claim for ``claimant`` the guaranteed events not done that no daemon, or one of
        ``orphans_of``, holds (every such event on a one-daemon store), oldest first, with the
        handlers already settled and those found running; at-most-once leftovers among them are
        marked dropped. Events whose source starts with one of ``skip_sources`` are left to a
        role's leader."""
        ...

    async def release_claims(self, claimant: str) -> int:
        """Unclaim ``claimant``'s pending events (a clean stop); return how many."""
        ...

    async def by_seqs(self, seqs: Sequence[int]) -> list[Event]:
        """Stored events with these sequence numbers, in seq order."""
        ...

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """Newest events first, each as its wire shape with a ``status``."""
        ...

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """One event with ``status``, its trace ``steps`` and its ``deliveries``."""
        ...

    async def trace(self, trace_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Events of a trace in acceptance order, and all their steps in order."""
        ...

    async def parents(self, event_ids: list[str]) -> dict[str, str | None]:
        """``parent_event_id`` of each given event that exists."""
        ...

    async def after(self, seq: int, limit: int) -> list[Event]:
        """Events past the pending state with ``seq`` greater than given, oldest first."""
        ...

    async def event_types(self) -> list[str]:
        """Distinct event types stored."""
        ...

    async def prune(self, older_than_ms: int, keep_max: int) -> int:
        """Delete finished events created before the cutoff or beyond the newest ``keep_max``
        (never a pending one), with their steps and deliveries, and expired dedup keys; return
        the highest seq considered."""
        ...
