"""The file-watch source: watchfiles over configured paths, filtered by glob patterns.

Events come from ``file:<id>`` as ``file_created``, ``file_changed`` or ``file_deleted`` with
``{"path": <absolute path>, "file_type": "file"|"dir"|"unknown"}`` (a deleted entry is
``unknown``: it can no longer be looked at). A pattern matches the entry's name or its path
relative to the watched folder, so ``*.md`` and ``notes/*.md`` both work. A missing path fails
this source alone, with the path in its health, and boot goes on.
"""

from __future__ import annotations

import asyncio
import logging
from fnmatch import fnmatchcase
from pathlib import Path, PurePath
from typing import Any

from pydantic import Field
from watchfiles import Change

from aman.clock import Clock, SystemClock
from aman.core.lifecycle import Spawner
from aman.errors import ValidationFailedError
from aman.events import types as t
from aman.events.model import Event
from aman.events.sources import Publish, SourceConfig
from aman.sources.base import BaseSource
from aman.watching import watch_changes

log = logging.getLogger(__name__)

_EVENT_TYPES = {Change.added: t.FILE_CREATED, Change.modified: t.FILE_CHANGED,
                Change.deleted: t.FILE_DELETED}
#: The order events of one batch are emitted in: a file created and written in one debounce
#: window reads as created, then changed.
_ORDER = {Change.added: 0, Change.modified: 1, Change.deleted: 2}


class FileWatchConfig(SourceConfig):
    """What ``PUT /event-source/{id}/config`` may change on a file watch."""

    paths: list[Path] = Field(min_length=1, description="Folders or files to watch.")
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1,
                                description="Globs matched on the name or the relative path.")
    recursive: bool = True
    debounce_ms: int = Field(300, ge=0, le=60_000, description="Changes are grouped this long.")


def missing_paths(paths: list[Path]) -> list[tuple[int, Path]]:
    """The configured paths that do not exist, with their index."""
    return [(index, path) for index, path in enumerate(paths) if not path.expanduser().exists()]


class FileWatchSource(BaseSource):
    """Watches files and folders; one watcher per configuration, restarted by ``configure``."""

    type = "file_watch"
    kind = "file"
    config_model = FileWatchConfig

    def __init__(self, source_id: str, config: FileWatchConfig, *, publish: Publish,
                 tasks: Spawner, clock: Clock | None = None) -> None:
        super().__init__(source_id, config, publish=publish, tasks=tasks)
        self._clock: Clock = clock or SystemClock()
        self._roots: list[Path] = []
        #: Set once the OS watch of the current run is in place (tests wait on it).
        self.armed = asyncio.Event()

    @property
    def _settings(self) -> FileWatchConfig:
        config: FileWatchConfig = self._config  # type: ignore[assignment]
        return config

    def _check(self, config: Any) -> None:
        gone = missing_paths(config.paths)
        if gone:
            fields = [{"path": f"config.paths.{i}", "message": f"{p} does not exist",
                       "type": "path_missing"} for i, p in gone]
            summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields)
            raise ValidationFailedError(f"invalid config: {summary}", details={"fields": fields},
                                        hint="Create the path first, or name one that exists.")

    async def _prepare(self) -> None:
        gone = missing_paths(self._settings.paths)
        if gone:
            names = ", ".join(str(path) for _, path in gone)
            raise FileNotFoundError(
                f"watched path(s) do not exist: {names}; create them, then PUT "
                f"/event-source/{self.id}/config to restart the watch"
            )
        self._roots = [path.expanduser().resolve() for path in self._settings.paths]

    def matches(self, path: str) -> bool:
        """Whether ``path`` (absolute) passes the patterns, by name or relative path."""
        candidate = PurePath(path)
        names = {candidate.name}
        for root in self._roots:
            if candidate == root:
                continue
            if candidate.is_relative_to(root):
                names.add(candidate.relative_to(root).as_posix())
        return any(fnmatchcase(name, pattern) for name in names
                   for pattern in self._settings.patterns)

    def _wanted_change(self, change: Change, path: str) -> bool:
        return self.matches(path)

    async def _run(self, stop: asyncio.Event) -> None:
        self.armed.clear()
        settings = self._settings
        log.info("file source %s watching %s for %s", self.id,
                 ", ".join(str(root) for root in self._roots), ", ".join(settings.patterns))
        async for changes in watch_changes(*self._roots, watch_filter=self._wanted_change,
                                           debounce=max(1, settings.debounce_ms),
                                           step=min(50, max(1, settings.debounce_ms)),
                                           stop_event=stop, recursive=settings.recursive,
                                           armed=self.armed):
            for change, path in sorted(changes, key=lambda c: (c[1], _ORDER[c[0]])):
                if stop.is_set():
                    return
                await self.emit(self._event(change, path))

    def _event(self, change: Change, path: str) -> Event:
        entry = Path(path)
        file_type = "unknown"
        if change is not Change.deleted:
            file_type = "dir" if entry.is_dir() else "file" if entry.is_file() else "unknown"
        return Event.create(source=self.event_source, event_type=_EVENT_TYPES[change],
                            payload={"path": str(entry), "file_type": file_type},
                            now_ms=self._clock.now_ms())
