"""The built-in event sources (``sources.timers``, ``sources.file_watch``) as a default plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aman.plugins.hookspecs import hookimpl
from aman.sources import build_sources

if TYPE_CHECKING:
    from aman.core.runtime import Runtime
    from aman.events.sources import EventSource


@hookimpl
def register_event_sources(runtime: Runtime) -> list[EventSource]:
    """One source per configured timer and file watch; started in phase 4 (event_sources)."""
    return list(build_sources(runtime.settings.sources, publish=runtime.bus.publish,
                              tasks=runtime.tasks, clock=runtime.clock))
