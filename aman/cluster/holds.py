"""Holds: a name held by one task on one daemon at a time among the daemons sharing a store.

Work that may run on any daemon, but on one at a time (a chat session's turns), is held under a
name. Across daemons the hold is a database lock of the coordination connection, asked for again
with a short backoff while another daemon has it, and released by the server if its holder dies.
Such locks nest per connection, so the tasks of one daemon also queue on a local lock per name.
On a store only one daemon can use, the database part is granted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aman.cluster.model import Coordination
from aman.errors import AmanError

log = logging.getLogger(__name__)

#: A hold another daemon has is asked for again after this wait, doubling up to the longest.
_HOLD_FIRST_WAIT_SEC = 0.05
_HOLD_LONGEST_WAIT_SEC = 0.5


@dataclass
class _Held:
    """A held name on this daemon: its tasks queue on ``lock`` (database locks are re-entrant
    per connection, so the database alone would let two of this daemon's tasks in at once)."""

    lock: asyncio.Lock
    users: int = 0


def hold_key(name: str) -> int:
    """The database lock key of a held name: 64 bits of its hash (a clash only makes two names
    wait for each other)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"aman-hold").digest()
    return int.from_bytes(digest, "big", signed=True)


class Holds:
    """Names held by this daemon's tasks, each by one task here and by this daemon alone."""

    def __init__(self, coordination: Coordination) -> None:
        self._coordination = coordination
        self._held: dict[int, _Held] = {}

    async def acquire(self, name: str) -> None:
        """Wait until ``name`` is held by this task alone among every daemon on the store (a
        chat session's turns); free at once on a store only one daemon can use."""
        key = hold_key(name)
        held = self._held.setdefault(key, _Held(asyncio.Lock()))
        held.users += 1
        try:
            await held.lock.acquire()
            try:
                wait = _HOLD_FIRST_WAIT_SEC
                while not await self._try_lock(key):
                    await asyncio.sleep(wait)  # another daemon holds it: ask again shortly
                    wait = min(wait * 2, _HOLD_LONGEST_WAIT_SEC)
            except BaseException:
                held.lock.release()
                raise
        except BaseException:
            self._let_go(key, held)
            raise

    async def try_acquire(self, name: str) -> bool:
        """``acquire`` if nobody, here or on another daemon, holds ``name`` now; else False."""
        key = hold_key(name)
        held = self._held.setdefault(key, _Held(asyncio.Lock()))
        if held.users:  # a task of this daemon has it or waits for it
            return False
        held.users += 1
        await held.lock.acquire()  # free, nobody waiting: taken at once
        try:
            taken = await self._try_lock(key)
        except BaseException:
            held.lock.release()
            self._let_go(key, held)
            raise
        if not taken:
            held.lock.release()
            self._let_go(key, held)
        return taken

    async def release(self, name: str) -> None:
        """Give ``name`` back (taken with ``acquire``); the next waiter, here or elsewhere,
        gets it."""
        key = hold_key(name)
        held = self._held.get(key)
        if held is None or not held.lock.locked():
            raise RuntimeError(f"{name!r} is not held here")
        try:
            if self._coordination.connected:
                # Shielded: a lock left behind would keep the name from every other daemon.
                await asyncio.shield(self._coordination.unlock(key))
        except AmanError as exc:
            log.warning("giving back the hold on %s failed: %s", name, exc)
        finally:
            held.lock.release()
            self._let_go(key, held)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """``acquire`` on entry, ``release`` on exit."""
        await self.acquire(name)
        try:
            yield
        finally:
            await self.release(name)

    async def _try_lock(self, key: int) -> bool:
        """One ask to the database; a caller cancelled meanwhile gives back a lock it was
        granted (else it would stay on the connection, kept from every other daemon)."""
        attempt = asyncio.ensure_future(self._coordination.try_lock(key))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            with contextlib.suppress(AmanError):
                if await attempt:
                    await self._coordination.unlock(key)
            raise

    def _let_go(self, key: int, held: _Held) -> None:
        held.users -= 1
        if held.users == 0 and self._held.get(key) is held:
            del self._held[key]
