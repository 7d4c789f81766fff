"""The example plugin: GET /api/v1/example/hello, an ``example.tick`` source and a UI page."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from aman.events.model import Delivery, Event, Priority
from aman.events.sources import SourceConfig
from aman.plugins import PluginContext, PluginRequest, PluginRoute, UiPage, hookimpl
from aman.sources.base import BaseSource

TICK = "example.tick"


class TickConfig(SourceConfig):
    """What PUT /event-source/example.tick/config may change."""

    interval_sec: float = Field(30.0, ge=0.05, description="Seconds between ticks.")


class TickSource(BaseSource):
    """Emits ``example.tick`` with a counter every ``interval_sec`` while running."""

    type = "example_tick"
    kind = "example"
    config_model = TickConfig

    def __init__(self, context: PluginContext) -> None:
        # plugins.config.example.interval_sec (the manifest's default: 30) sets the first value.
        settings = context.config
        super().__init__("example.tick", TickConfig(interval_sec=settings["interval_sec"]),
                         publish=context.bus.publish, tasks=context.tasks)
        self._clock = context.clock
        self.ticks = 0

    async def _run(self, stop: asyncio.Event) -> None:
        interval = self._config.interval_sec  # type: ignore[attr-defined]
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            if self._paused:
                continue
            self.ticks += 1
            await self.emit(Event.create(source=self.event_source, event_type=TICK,
                                         payload={"tick": self.ticks}, priority=Priority.LOW,
                                         delivery=Delivery.AT_MOST_ONCE,
                                         now_ms=self._clock.now_ms()))


async def hello(request: PluginRequest) -> dict[str, Any]:
    """GET /api/v1/example/hello[?name=...]."""
    return {"hello": request.query.get("name", "world"), "plugin": request.plugin}


@hookimpl
def register_routes(context: PluginContext) -> list[PluginRoute]:
    return [PluginRoute("GET", "/hello", hello)]


@hookimpl
def register_event_sources(context: PluginContext) -> list[TickSource]:
    return [TickSource(context)]


@hookimpl
def register_event_types(context: PluginContext) -> list[tuple[str, str]]:
    return [(TICK, "A counter from the example plugin's timer-like source.")]


@hookimpl
def register_ui_pages(context: PluginContext) -> list[UiPage]:
    return [UiPage("example", "Example")]
