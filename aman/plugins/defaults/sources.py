"""The built-in event sources (``sources.timers``, ``sources.file_watch``) as a default plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aman.plugins.hookspecs import hookimpl
from aman.sources import build_sources

if TYPE_CHECKING:
    from aman.config.settings import SourcesSettings
    from aman.events.sources import EventSource
    from aman.plugins.context import PluginContext


class CoreSources:
    """The built-in event sources (``sources.timers``, ``sources.file_watch``)."""

    def __init__(self, settings: Callable[[], SourcesSettings]) -> None:
        # Its settings are the core's ``sources`` section, not ``plugins.config``: the
        # composition root hands them over, so the context stays the same for every plugin.
        self._settings = settings

    @hookimpl
    def register_event_sources(self, context: PluginContext) -> list[EventSource]:
        """One source per configured timer and file watch; started in phase 4 (event_sources)."""
        return list(build_sources(self._settings(), publish=context.bus.publish,
                                  tasks=context.tasks, clock=context.clock))
