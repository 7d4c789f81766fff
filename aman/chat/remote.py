"""Stopping a reply that another daemon is writing.

With several daemons on one store, a session's replies are written by the daemon holding the
session (``aman.chat.queue``); a stop may reach any daemon. A daemon with nothing running for the
session, finding it held elsewhere, announces ``session:stop_requested``; every daemon sees
events dispatched elsewhere (the cluster's dispatch feed), and the one writing the reply stops it
as a local stop would. The asking daemon waits a moment for the hold to come free, which tells
it the reply stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aman.chat.model import SessionHolds
from aman.chat.queue import STOP_WAIT_SEC, hold_name
from aman.core.lifecycle import TaskTracker
from aman.events.model import Event

if TYPE_CHECKING:
    from aman.events.bus import EventBus
    from aman.events.subscribers import Unsubscribe

STOP_REQUESTED = "session:stop_requested"
#: How often the asking daemon looks whether the hold came free.
_LOOK_EVERY_SEC = 0.05


class RemoteStop:
    """Asks the daemon holding a session to stop its reply, and answers such asks."""

    def __init__(self, *, bus: EventBus, holds: SessionHolds, tasks: TaskTracker, source: str,
                 stop_here: Callable[[str], Coroutine[Any, Any, object]]) -> None:
        self._bus = bus
        self._holds = holds
        self._tasks = tasks
        self._source = source
        self._stop_here = stop_here
        self._unobserve: Unsubscribe | None = None

    def start(self) -> None:
        """Answer asks from now on (they arrive as dispatched events, from here or elsewhere)."""
        if self._unobserve is None:
            self._unobserve = self._bus.observe(self._observed)

    def stop(self) -> None:
        """Answer no more asks."""
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None

    async def ask(self, session_id: str) -> bool:
        """Ask whoever holds ``session_id`` to stop; whether a reply was running and let go."""
        name = hold_name(session_id)
        if await self._holds.try_acquire(name):  # nobody is writing a reply for it
            await self._holds.release(name)
            return False
        self._bus.emit(STOP_REQUESTED, {"session_id": session_id}, source=self._source)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_WAIT_SEC + 1.0  # the holder's stop, and the notice
        while loop.time() < deadline:
            await asyncio.sleep(_LOOK_EVERY_SEC)
            if await self._holds.try_acquire(name):
                await self._holds.release(name)
                return True
        return False

    def _observed(self, event: Event) -> None:
        session_id = event.payload.get("session_id")
        if event.event_type == STOP_REQUESTED and isinstance(session_id, str):
            self._tasks.spawn(f"chat-stop:{session_id}", self._stop_here(session_id))
