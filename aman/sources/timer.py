"""The timer source: a tick every ``interval_ms``; a minute or more is a heartbeat.

Events come from ``timer:<id>`` as ``timer_tick`` (``{"tick": n}``) or, at an interval of at
least a minute, ``heartbeat`` (``{"heartbeat": true, "tick": n}``).
 They are low priority and at-most-once: a missed tick is replaced by
the next one, so they are not worth a disk write before acceptance or a slot under backpressure.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from aman.clock import Clock, SystemClock, sleep_unless
from aman.core.lifecycle import Spawner
from aman.events import types as t
from aman.events.model import Delivery, Event, Priority
from aman.events.sources import Publish, SourceConfig
from aman.sources.base import BaseSource

#: From this interval on a tick is a heartbeat (a slow timer is a liveness signal).
HEARTBEAT_FROM_MS = 60_000


class TimerConfig(SourceConfig):
    """What ``PUT /event-source/{id}/config`` may change on a timer."""

    interval_ms: int = Field(60_000, ge=100, description="Tick interval; >= 60000 emits heartbeat.")


class TimerSource(BaseSource):
    """Emits a tick every ``interval_ms`` while running; paused ticks are skipped, not queued."""

    type = "timer"
    kind = "timer"
    config_model = TimerConfig

    def __init__(self, source_id: str, config: TimerConfig, *, publish: Publish,
                 tasks: Spawner, clock: Clock | None = None) -> None:
        super().__init__(source_id, config, publish=publish, tasks=tasks)
        self._clock: Clock = clock or SystemClock()
        self.ticks = 0

    @property
    def interval_ms(self) -> int:
        """The tick interval in force."""
        config: TimerConfig = self._config  # type: ignore[assignment]
        return config.interval_ms

    def make_event(self, tick: int) -> Event:
        """The event of tick number ``tick``."""
        payload: dict[str, Any] = {"tick": tick}
        event_type = t.TIMER_TICK
        if self.interval_ms >= HEARTBEAT_FROM_MS:
            event_type = t.HEARTBEAT
            payload = {"heartbeat": True, "tick": tick}
        return Event.create(source=self.event_source, event_type=event_type, payload=payload,
                            priority=Priority.LOW, delivery=Delivery.AT_MOST_ONCE,
                            now_ms=self._clock.now_ms())

    async def _run(self, stop: asyncio.Event) -> None:
        interval = self.interval_ms / 1000
        clock = self._clock
        due = clock.monotonic() + interval
        while not stop.is_set():
            if await sleep_unless(clock, max(0.0, due - clock.monotonic()), stop):
                return
            # Schedule from the planned time, not from now, so ticks do not drift; after a
            # stall (a suspended machine) skip the missed ticks instead of bursting them.
            due += interval
            if due < clock.monotonic():
                due = clock.monotonic() + interval
            if self._paused:
                self.stats.suppressed_while_paused += 1
                continue
            self.ticks += 1
            await self.emit(self.make_event(self.ticks))
