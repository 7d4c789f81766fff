"""The dispatch queue: per-source FIFO segments, the highest-priority head goes first.

Priority only reorders across sources; inside one source order is always FIFO, and a source
is handed out one event at a time (it is "busy" until released), so its events reach handlers
in the order they were accepted.
"""

from __future__ import annotations

import heapq
from collections import deque

from aman.events.model import Event, Priority


class SourceFifoQueue:
    """Pending events, ordered by (head priority, acceptance seq) across free sources."""

    def __init__(self) -> None:
        self._segments: dict[str, deque[Event]] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._busy: set[str] = set()
        self.depth: dict[str, int] = {p.value: 0 for p in Priority}
        self.size = 0

    def push(self, event: Event) -> None:
        """Queue ``event`` behind its source's earlier events."""
        segment = self._segments.get(event.source)
        if segment is None:
            segment = self._segments[event.source] = deque()
        segment.append(event)
        self.size += 1
        self.depth[event.priority.value] += 1
        if len(segment) == 1 and event.source not in self._busy:
            heapq.heappush(self._heap, (event.priority.rank, event.seq, event.source))

    def take(self) -> Event | None:
        """The next event to dispatch (its source becomes busy), or None."""
        while self._heap:
            _, seq, source = heapq.heappop(self._heap)
            segment = self._segments.get(source)
            if not segment or segment[0].seq != seq or source in self._busy:
                continue  # a stale heap entry
            event = segment.popleft()
            if not segment:
                del self._segments[source]
            self._busy.add(source)
            self.size -= 1
            self.depth[event.priority.value] -= 1
            return event
        return None

    def release(self, source: str) -> bool:
        """Mark ``source`` free again; True if it has more events waiting."""
        self._busy.discard(source)
        segment = self._segments.get(source)
        if segment:
            heapq.heappush(self._heap, (segment[0].priority.rank, segment[0].seq, source))
            return True
        return False

    def clear(self) -> None:
        """Forget everything (the log still has guaranteed events)."""
        self._segments.clear()
        self._heap.clear()
        self._busy.clear()
        self.size = 0
        self.depth = {p.value: 0 for p in Priority}
