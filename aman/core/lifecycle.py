"""Start in order, stop in reverse: the lifecycle stack and the tracker for background tasks.

Whatever starts pushes its own stop onto a ``LifecycleStack``; ``unwind`` runs the stops in
reverse, each within a timeout that names the late one, and collects every error instead of
stopping at the first (aiohttp's CleanupContext, APScheduler's exit stack).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

StopCallback = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _StopEntry:
    name: str
    callback: StopCallback


class StopErrors(Exception):
    """Every error raised (or timeout hit) while unwinding, reported together."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        self.errors = errors
        names = ", ".join(f"{name}: {exc!r}" for name, exc in errors)
        super().__init__(f"{len(errors)} stop callback(s) failed: {names}")


class LifecycleStack:
    """A named stack of async stop callbacks."""

    def __init__(self) -> None:
        self._entries: list[_StopEntry] = []

    def push(self, name: str, callback: StopCallback) -> None:
        """Register ``callback`` to run when the stack unwinds."""
        self._entries.append(_StopEntry(name, callback))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def names(self) -> list[str]:
        """Names in start order."""
        return [entry.name for entry in self._entries]

    async def unwind(self, *, timeout_per_item: float, deadline: float | None = None) -> None:
        """Run every stop in reverse; raise ``StopErrors`` listing all failures at the end."""
        loop = asyncio.get_running_loop()
        errors: list[tuple[str, BaseException]] = []
        while self._entries:
            entry = self._entries.pop()
            budget = timeout_per_item
            if deadline is not None:
                budget = max(0.05, min(budget, deadline - loop.time()))
            try:
                await asyncio.wait_for(entry.callback(), timeout=budget)
            except TimeoutError as exc:
                log.error("stop of %s did not finish within %.1fs; moving on", entry.name, budget)
                errors.append((entry.name, exc))
            except Exception as exc:  # collect, keep unwinding
                log.exception("stop of %s failed", entry.name)
                errors.append((entry.name, exc))
        if errors:
            raise StopErrors(errors)


class Spawner(Protocol):
    """Starts background work that someone tracks and cancels on stop (a ``TaskTracker``)."""

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``coro`` as a tracked task called ``name``."""


class TaskTracker:
    """Spawns named background tasks, logs their failures and cancels the rest on stop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``coro`` as a tracked task called ``name``."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    @property
    def running(self) -> list[str]:
        """Names of tasks still running."""
        return sorted(task.get_name() for task in self._tasks)

    async def cancel_all(self, timeout: float) -> None:
        """Cancel every task and wait up to ``timeout`` for them, naming any that linger."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            log.error("tasks still running after cancel: %s", [t.get_name() for t in pending])
