"""Time, injected where it matters (TTL, retry, cron, uptime, waits) so tests need no sleeps.

Code that waits for time to pass (retry backoff, maintenance intervals, provider probes, timers)
sleeps through the clock it was given, so a test's manual clock decides when it wakes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for records, monotonic time for durations, and sleeping on that time."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))


async def sleep_unless(clock: Clock, seconds: float, wake: asyncio.Event) -> bool:
    """Sleep ``seconds`` on ``clock`` unless ``wake`` is set first; True when woken early."""
    if wake.is_set():
        return True
    woken = asyncio.ensure_future(wake.wait())
    slept = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (woken, slept):
            task.cancel()
        await asyncio.gather(woken, slept, return_exceptions=True)
    return wake.is_set()
