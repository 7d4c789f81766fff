"""StreamHub: fan-out of dispatched events to live stream (SSE) clients, each with a bounded buffer.

The hub observes the bus with a synchronous callback that only appends to client buffers, so a
slow client never slows the bus. A full buffer drops that client's oldest events and
counts them; the client's next read starts with one ``Lagged`` notice carrying the count, then
continues with the newest events.

Resuming (``Last-Event-ID``): ``replay`` merges the stored log with a ring of recently dispatched
events (the store only lists events whose handlers have settled, so an event still being handled
or retried is found in the ring), bounded by ``replay_limit``. The client is registered before
the replay is read, so nothing dispatched meanwhile is missed; events the replay already gave are
skipped when they come live. Deduplication is by the replayed set, not by ``seq <= last``: with
several workers and priorities, and several daemons numbering events from one shared sequence,
dispatch order is not ``seq`` order; so the ring also gives back what was dispatched after the
client's last event, whatever its number.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import Metric

from aman.errors import NotReadyError
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.metrics import counter, gauge

log = logging.getLogger(__name__)

#: Why a client lost events: its buffer overflowed, or its replay was longer than the bound.
LAG_SLOW_CLIENT = "slow_client"
LAG_REPLAY_LIMIT = "replay_limit"


class ReplaySource(Protocol):
    """The stored event log, read for resumption."""

    async def after(self, seq: int, limit: int) -> list[Event]:
        """Dispatched events with ``seq`` above the given one, oldest first."""
        ...

    async def max_seq(self) -> int:
        """Highest acceptance sequence number stored."""
        ...


class Observable(Protocol):
    """What the hub needs from the bus."""

    def observe(self, observer: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``observer`` with every dispatched event; return the undo."""
        ...


@dataclass(frozen=True)
class Lagged:
    """Notice that the client lost ``lost`` events (``reason``: slow_client or replay_limit)."""

    lost: int
    reason: str = LAG_SLOW_CLIENT


StreamItem = Event | Lagged


@dataclass
class StreamStats:
    """Counters read by /metrics."""

    clients: int = 0
    connections: int = 0
    messages_sent: int = 0
    lagged_drops: int = 0
    lag_notices: int = 0


class StreamClient:
    """One live subscriber: a bounded buffer the hub fills and the connection drains."""

    def __init__(self, hub: StreamHub, event_filter: EventFilter, capacity: int) -> None:
        self.filter = event_filter
        self._hub = hub
        self._buffer: deque[Event] = deque(maxlen=capacity)
        self._lost = 0
        self._replayed: set[int] = set()
        self._ready = asyncio.Event()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the client left or the hub stopped."""
        return self._closed

    def offer(self, event: Event) -> None:
        """Buffer ``event`` if it passes the filter; on overflow drop the oldest and count it."""
        if self._closed or not self.filter.matches(event):
            return
        if len(self._buffer) == self._buffer.maxlen:
            self._lost += 1
            self._hub.stats.lagged_drops += 1
        self._buffer.append(event)
        self._ready.set()

    def take(self) -> list[StreamItem]:
        """Everything ready, without waiting: a ``Lagged`` notice first if events were lost."""
        items: list[StreamItem] = []
        if self._lost:
            items.append(Lagged(self._lost))
            self._hub.stats.lag_notices += 1
            self._lost = 0
        if self._replayed:
            items.extend(e for e in self._buffer if e.seq not in self._replayed)
        else:
            items.extend(self._buffer)
        self._buffer.clear()
        self._ready.clear()
        return items

    async def wait(self, timeout: float) -> None:
        """Return when items are ready, the client is closed, or ``timeout`` seconds passed."""
        if self._ready.is_set() or self._closed:
            return
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await self._ready.wait()
        except TimeoutError:
            pass

    def record_sent(self, count: int = 1) -> None:
        """Count messages written to this client (events, notices and snapshots)."""
        self._hub.stats.messages_sent += count

    def close(self) -> None:
        """Leave the hub (idempotent); a waiting reader wakes up."""
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        self._hub._remove(self)

    def _mark_replayed(self, seqs: Iterable[int]) -> None:
        self._replayed.update(seqs)


class StreamHub:
    """Fans dispatched events out to live clients; keeps a ring of recent events for resumption."""

    def __init__(self, store: ReplaySource, *, client_buffer: int, replay_limit: int) -> None:
        if client_buffer < 1:
            raise ValueError("client_buffer must be at least 1")
        self.stats = StreamStats()
        self.replay_limit = replay_limit
        self._store = store
        self._capacity = client_buffer
        self._clients: set[StreamClient] = set()
        self._recent: deque[Event] = deque(maxlen=max(replay_limit, 0))
        self._last_seq = 0
        self._unobserve: Callable[[], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def attach(self, bus: Observable) -> None:
        """Start observing ``bus``; a fresh client's position starts at the newest stored event."""
        if self._unobserve is not None:
            return
        self._last_seq = max(self._last_seq, await self._store.max_seq())
        self._unobserve = bus.observe(self._fan_out)

    async def stop(self) -> None:
        """Stop observing and close every client, so open streams end and shutdown is not held."""
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None
        self.close_clients()

    def close_clients(self) -> None:
        """End every open stream now (their readers see ``closed``); the hub stays attached."""
        for client in list(self._clients):
            client.close()

    @property
    def attached(self) -> bool:
        """Whether the hub is observing a bus."""
        return self._unobserve is not None

    @property
    def last_seq(self) -> int:
        """Highest ``seq`` dispatched (or stored at attach time): a fresh client's position."""
        return self._last_seq

    # --- clients -------------------------------------------------------------------------

    def connect(self, event_filter: EventFilter | None = None) -> StreamClient:
        """Register a client; it receives every matching event dispatched from now on."""
        if self._unobserve is None:
            raise NotReadyError("the event stream is not running (runtime not ready)")
        client = StreamClient(self, event_filter or EventFilter(), self._capacity)
        self._clients.add(client)
        self.stats.clients = len(self._clients)
        self.stats.connections += 1
        return client

    def _remove(self, client: StreamClient) -> None:
        self._clients.discard(client)
        self.stats.clients = len(self._clients)

    def _fan_out(self, event: Event) -> None:
        # Called synchronously by the bus for every dispatched event: never await, never block.
        if event.seq > self._last_seq:
            self._last_seq = event.seq
        if self._recent.maxlen:
            self._recent.append(event)
        for client in list(self._clients):
            try:
                client.offer(event)
            except Exception:  # one bad client never stops the others
                log.exception("stream client failed to take event %s", event.id)

    # --- resumption ----------------------------------------------------------------------

    async def replay(self, client: StreamClient, after: int) -> list[StreamItem]:
        """Events matching ``client`` with ``seq > after``, oldest first, at most ``replay_limit``.

        Call right after ``connect``. If more were missed than the bound allows, the newest are
        kept and a ``Lagged(reason="replay_limit")`` notice comes first; its count is an upper
        bound (it may include events outside the client's filter or not yet dispatched).
        """
        limit = self.replay_limit
        if limit <= 0:
            return []
        stored = await self._store.after(after, limit)
        recent = self._dispatched_after(after)
        newest = max(self._last_seq, await self._store.max_seq()) if len(stored) >= limit else 0
        lost, events = plan_replay(stored, recent, after=after, limit=limit,
                                   store_full=len(stored) >= limit, newest=newest,
                                   event_filter=client.filter)
        client._mark_replayed(e.seq for e in events)
        items: list[StreamItem] = []
        if lost:
            items.append(Lagged(lost, LAG_REPLAY_LIMIT))
            self.stats.lag_notices += 1
        items.extend(events)
        return items


    def _dispatched_after(self, after: int) -> list[Event]:
        """Ring events the client cannot have seen: those dispatched after the event ``after``
        (when the ring still holds it) and any numbered above it. An event numbered below
        ``after`` but dispatched later (a lower priority, another daemon's event, one taken over
        from a dead daemon) is found this way, where ``seq > after`` alone would miss it.

        The first sighting counts: an event seen twice (dispatched by a daemon that died, then
        again by the one that took it over) may have reached the client the first time. Events
        without a seq (announced only, never stored) are not replayed."""
        ring = [e for e in self._recent if e.seq]
        for index, event in enumerate(ring):
            if event.seq == after:
                return [e for e in ring[:index] if e.seq > after] + ring[index + 1:]
        return [e for e in ring if e.seq > after]


def plan_replay(
    stored: list[Event],
    recent: list[Event],
    *,
    after: int,
    limit: int,
    store_full: bool,
    newest: int,
    event_filter: EventFilter,
) -> tuple[int, list[Event]]:
    """Merge stored events above ``after`` with the ``recent`` ones the client missed; return
    (events left out, newest ``limit``).

    ``store_full`` says the store may hold more than it returned: the seqs between its last row
    and the first recent event (or ``newest``) were not read and count as left out.
    """
    merged = {e.seq: e for e in stored if e.seq > after}
    merged.update((e.seq, e) for e in recent)
    left_out = 0
    if store_full and stored:
        stored_last = stored[-1].seq
        tail = min((e.seq for e in recent if e.seq > stored_last), default=newest + 1)
        left_out = max(0, tail - stored_last - 1)
    events = [merged[seq] for seq in sorted(merged) if event_filter.matches(merged[seq])]
    if len(events) > limit:
        left_out += len(events) - limit
        events = events[-limit:]
    return left_out, events


def families(hub: StreamHub) -> Iterable[Metric]:
    """Prometheus families of the stream, computed at scrape time."""
    stats = hub.stats
    yield gauge("aman_stream_clients", "Connected event stream (SSE) clients.", stats.clients)
    yield counter("aman_stream_connections", "Event stream connections opened.", stats.connections)
    yield counter("aman_stream_messages_sent", "Messages written to event stream clients.",
                  stats.messages_sent)
    yield counter("aman_stream_lagged_drops",
                  "Events dropped from slow stream clients' full buffers.", stats.lagged_drops)
    yield counter("aman_stream_lag_notices", "stream:lagged notices sent to clients.",
                  stats.lag_notices)

