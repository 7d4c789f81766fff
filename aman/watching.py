"""Watch folders with watchfiles and call a reload after each debounced batch of changes.

watchfiles groups changes for up to ``debounce_ms`` and yields once nothing new arrived for
``step_ms``, so a single write is picked up in about ``step_ms`` plus the reload itself.
Temporary and hidden files (editors, our own atomic writes) are ignored. Skills and workflow
definitions both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from watchfiles import Change
from watchfiles._rust_notify import RustNotify

log = logging.getLogger(__name__)

_IGNORED_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".part")


def relevant(change: Change, path: str) -> bool:
    """Whether a change may matter (not an editor's or our own temp file)."""
    name = Path(path).name
    return not name.startswith(".") and not name.endswith(_IGNORED_SUFFIXES)


#: How often the notify thread looks at the stop flag (ms).
_STOP_CHECK_MS = 200

Filter = Callable[[Change, str], bool]


async def watch_changes(*paths: Path, watch_filter: Filter, debounce: int, step: int,
                        stop_event: asyncio.Event, recursive: bool = True,
                        armed: asyncio.Event | None = None,
                        ) -> AsyncIterator[set[tuple[Change, str]]]:
    """Debounced batches of changes under ``paths`` until ``stop_event`` is set.

    What ``watchfiles.awatch`` does, on a dedicated thread instead of anyio's worker pool:
    awatch loads anyio's asyncio backend (~1.3 MB resident for this daemon) and every watch
    holds one of that pool's threads; here each watch owns one plain thread that hands batches
    to the loop. ``armed`` is set once the OS watch is in place: changes before it are unseen
    (the log says so too, for whoever watches the daemon from outside).
    """
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue[set[tuple[Change, str]] | BaseException | None] = asyncio.Queue()
    halt = threading.Event()

    def hand_over(item: set[tuple[Change, str]] | BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed first: nobody is waiting
            loop.call_soon_threadsafe(batches.put_nowait, item)

    def run() -> None:
        try:
            with RustNotify([str(p) for p in paths], False, False, 300, recursive,
                            False) as notify:
                log.info("watch armed on %s", ", ".join(str(p) for p in paths))
                if armed is not None:
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(armed.set)
                while not halt.is_set():
                    raw = notify.watch(debounce, step, _STOP_CHECK_MS, halt)
                    if isinstance(raw, str):  # "signal", "stop" or "timeout"
                        if raw == "timeout":
                            continue
                        break
                    changes = {(Change(code), path) for code, path in raw
                               if watch_filter(Change(code), path)}
                    if changes:
                        hand_over(changes)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the loop
            hand_over(exc)
        finally:
            hand_over(None)

    thread = threading.Thread(target=run, name="watch:" + ",".join(Path(p).name for p in paths),
                              daemon=True)
    thread.start()
    stopped = asyncio.ensure_future(stop_event.wait())
    try:
        while True:
            nxt = asyncio.ensure_future(batches.get())
            await asyncio.wait({nxt, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                nxt.cancel()
                return
            item = nxt.result()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        halt.set()
        stopped.cancel()
        if armed is not None:
            armed.clear()


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
        #: Set while the current round's OS watch is in place (changes before it are unseen).
        self.armed = asyncio.Event()

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
            self.armed.clear()
            roots = [d for d in self._dirs() if d.is_dir()]
            if not roots:
                await self._round_stop.wait()
                continue
            # Changes made before this round's watch exists (after boot's load, or between two
            # rounds) would be lost: reload once it exists (created on the first iteration).
            catch_up = asyncio.get_running_loop().create_task(self._reload(delay=0.05))
            try:
                async for changes in watch_changes(*roots, watch_filter=relevant,
                                                   debounce=self.debounce_ms, step=self._step_ms,
                                                   stop_event=self._round_stop, recursive=True,
                                                   armed=self.armed):
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
