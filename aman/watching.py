"""Watch folders with watchfiles and call a reload after each debounced batch of changes.

watchfiles groups changes for up to ``debounce_ms`` and yields once nothing new arrived for
``step_ms``, so a single write is picked up in about ``step_ms`` plus the reload itself.
Temporary and hidden files (editors, our own atomic writes) are ignored. Skills and workflow
definitions both use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

log = logging.getLogger(__name__)

_IGNORED_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".part")


def relevant(change: Change, path: str) -> bool:
    """Whether a change may matter (not an editor's or our own temp file)."""
    name = Path(path).name
    return not name.startswith(".") and not name.endswith(_IGNORED_SUFFIXES)


class FolderWatcher:
    """One background task; ``restart`` re-reads the folder list."""

    def __init__(self, name: str, dirs: Callable[[], list[Path]],
                 reload: Callable[[], Awaitable[object]], *, debounce_ms: int = 300,
                 step_ms: int = 50) -> None:
        self.name = name
        self._dirs = dirs
        self._reload_fn = reload
        self.debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._task: asyncio.Task[None] | None = None
        self._round_stop = asyncio.Event()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the watch task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin watching (idempotent)."""
        if self.running:
            return
        self._closed = False
        self._round_stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"{self.name}:watch")

    def restart(self) -> None:
        """Watch the current folders again (the list changed, or the debounce did)."""
        self._round_stop.set()

    def set_debounce(self, debounce_ms: int) -> None:
        """Use ``debounce_ms`` from now on; the watch restarts with it (POST /config/set)."""
        self.debounce_ms = debounce_ms
        self.restart()

    async def stop(self) -> None:
        """End the watch and wait for it."""
        self._closed = True
        self._round_stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5.0)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    async def _reload(self, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await self._reload_fn()
        except Exception:
            log.exception("%s reload after a change failed", self.name)

    async def _loop(self) -> None:
        while not self._closed:
            self._round_stop = asyncio.Event()
            roots = [d for d in self._dirs() if d.is_dir()]
            if not roots:
                await self._round_stop.wait()
                continue
            # Changes made before this round's watch exists (after boot's load, or between two
            # rounds) would be lost: reload once it exists (created on the first iteration).
            catch_up = asyncio.get_running_loop().create_task(self._reload(delay=0.05))
            try:
                async for changes in awatch(*roots, watch_filter=relevant,
                                            debounce=self.debounce_ms, step=self._step_ms,
                                            stop_event=self._round_stop, recursive=True):
                    if self._closed:
                        return
                    await self._reload()
                    # A folder moved in is not watched inside until the watch is set up again.
                    if any(change is Change.added and Path(path).is_dir()
                           for change, path in changes):
                        break
            except Exception:
                log.exception("%s watch failed; retrying in 1 s", self.name)
                try:
                    await asyncio.wait_for(self._round_stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
            finally:
                if self._closed:
                    catch_up.cancel()
                await asyncio.gather(catch_up, return_exceptions=True)
