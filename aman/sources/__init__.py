"""Built-in event sources (timer, file watch) and ``build_sources`` from settings."""

from __future__ import annotations

from aman.clock import Clock
from aman.config.settings import SourcesSettings
from aman.core.lifecycle import Spawner
from aman.events.sources import Publish
from aman.sources.base import BaseSource
from aman.sources.files import FileWatchConfig, FileWatchSource
from aman.sources.timer import TimerConfig, TimerSource

__all__ = ["FileWatchConfig", "FileWatchSource", "TimerConfig", "TimerSource", "build_sources"]


def build_sources(settings: SourcesSettings, *, publish: Publish, tasks: Spawner,
                  clock: Clock) -> list[BaseSource]:
    """One source per ``sources.file_watch`` and ``sources.timers`` entry, in that order."""
    built: list[BaseSource] = []
    for watch in settings.file_watch:
        config = FileWatchConfig(paths=watch.paths, patterns=watch.patterns,
                                 recursive=watch.recursive, debounce_ms=watch.debounce_ms)
        built.append(FileWatchSource(watch.id, config, publish=publish, tasks=tasks, clock=clock))
    for timer in settings.timers:
        built.append(TimerSource(timer.id, TimerConfig(interval_ms=timer.interval_ms),
                                 publish=publish, tasks=tasks, clock=clock))
    return built
