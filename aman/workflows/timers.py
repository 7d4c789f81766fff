"""Instance timers (state timeouts, auto-retries): one heap, one task, fired through the bus.

Each instance row holds its next wake time, so the heap is rebuilt from the store at boot and an
overdue timer fires as soon as dispatch is open. Firing publishes a ``workflow.timer`` event with
a dedup key of (instance, kind, due time): the engine handles it like any event, on its trace,
with retries, and a timer that fires twice (a restart in between) moves the instance once.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable

from aman.clock import Clock, sleep_unless
from aman.errors import AmanError

log = logging.getLogger(__name__)

#: Delay before trying again when the bus refused a timer event (backpressure, stopping).
RETRY_REFUSED_MS = 1000

Fire = Callable[[str, str, int], Awaitable[None]]


class TimerHeap:
    """Calls ``fire(instance_id, kind, due_at)`` at (or after) each due time."""

    def __init__(self, clock: Clock, fire: Fire) -> None:
        self._clock = clock
        self._fire = fire
        self._heap: list[tuple[int, str, str, int]] = []  # (fire_at, instance, kind, due_at)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, instance_id: str, kind: str, due_at: int) -> None:
        """Add a timer; stale ones are harmless (the engine checks the instance still wants it)."""
        heapq.heappush(self._heap, (due_at, instance_id, kind, due_at))
        if self._heap[0][0] == due_at:
            self._changed.set()

    @property
    def running(self) -> bool:
        """Whether due timers are being fired here."""
        return self._task is not None and not self._task.done()

    def load(self, timers: list[tuple[str, str, int]]) -> None:
        """Replace the heap with ``(instance, kind, due_at)`` rows (boot recovery)."""
        self._heap = [(due, instance, kind, due) for instance, kind, due in timers]
        heapq.heapify(self._heap)
        self._changed.set()

    def start(self) -> None:
        """Begin firing due timers."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="workflow-timers")

    async def stop(self) -> None:
        """Stop firing; pending timers stay in the store for the next boot."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            if not self._heap:
                await self._changed.wait()
                continue
            wait_ms = self._heap[0][0] - self._clock.now_ms()
            if wait_ms > 0:
                await sleep_unless(self._clock, wait_ms / 1000, self._changed)
                continue
            _, instance_id, kind, due_at = heapq.heappop(self._heap)
            try:
                await self._fire(instance_id, kind, due_at)
            except AmanError as exc:
                log.warning("workflow timer %s of %s not fired yet (%s); trying again in %d ms",
                            kind, instance_id, exc, RETRY_REFUSED_MS)
                heapq.heappush(self._heap, (self._clock.now_ms() + RETRY_REFUSED_MS,
                                            instance_id, kind, due_at))
            except Exception:
                log.exception("workflow timer %s of %s failed", kind, instance_id)
