"""Background upkeep: prune the event log to its retention, and expire DLQ entries with warnings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from aman.errors import AmanError

if TYPE_CHECKING:
    from aman.clock import Clock
    from aman.config.settings import Settings
    from aman.core.lifecycle import Spawner


class Prunable(Protocol):
    """An event log that can drop finished events."""

    async def prune(self, older_than_ms: int, keep_max: int) -> int:
        """Delete finished events older than ``older_than_ms`` or beyond ``keep_max``."""

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


async def prune_events_once(event_log: Prunable, settings: Settings, clock: Clock) -> int:
    """Delete finished events past ``event_bus.retention_days`` or ``retention_max_events``."""
    bus = settings.event_bus
    cutoff = clock.now_ms() - int(bus.retention_days * DAY_MS)
    return await event_log.prune(cutoff, bus.retention_max_events)


def start_maintenance(*, settings: Callable[[], Settings], event_log: Prunable, clock: Clock,
                      tasks: Spawner,
                      dlq_sweep: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """Start the periodic jobs; return their stop."""
    jobs = [
        tasks.spawn("maintenance:prune", _every(
            clock, settings().event_bus.prune_interval_sec, "event pruning",
            lambda: prune_events_once(event_log, settings(), clock))),
        tasks.spawn("maintenance:dlq-expiry", _every(
            clock, settings().dlq.sweep_interval_sec, "DLQ expiry", dlq_sweep)),
    ]

    async def stop() -> None:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    return stop


async def _every(clock: Clock, interval: float, name: str,
                 job: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await job()
        except AmanError:
            log.exception("%s failed; trying again in %.0fs", name, interval)
        await clock.sleep(interval)
