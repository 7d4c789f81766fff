"""Background upkeep: prune the event log to its retention, and expire DLQ entries with warnings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aman.errors import AmanError

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


async def prune_events_once(runtime: Runtime) -> int:
    """Delete finished events past ``event_bus.retention_days`` or ``retention_max_events``."""
    bus = runtime.settings.event_bus
    cutoff = runtime.clock.now_ms() - int(bus.retention_days * DAY_MS)
    return await runtime.event_log.prune(cutoff, bus.retention_max_events)


def start_maintenance(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """Start the periodic jobs; return their stop."""
    jobs = [
        runtime.tasks.spawn("maintenance:prune", _every(
            runtime.settings.event_bus.prune_interval_sec, "event pruning",
            lambda: prune_events_once(runtime))),
        runtime.tasks.spawn("maintenance:dlq-expiry", _every(
            runtime.settings.dlq.sweep_interval_sec, "DLQ expiry", runtime.dlq.sweep)),
    ]

    async def stop() -> None:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    return stop


async def _every(interval: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await job()
        except AmanError:
            log.exception("%s failed; trying again in %.0fs", name, interval)
        await asyncio.sleep(interval)
