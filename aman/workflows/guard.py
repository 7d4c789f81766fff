"""InstanceGuard: where a step of one instance may run, and where its latest state is read.

Steps of one instance take turns: on this daemon through a lock per instance, and, when several
daemons share the store, through a hold on the instance that only one daemon's task has at a
time. Alone on its store, a daemon reads an instance's latest state from a cache of recently
moved instances (their writes may still be queued); sharing the store, it reads the stored row
under the hold, and the step commits before the hold is given back, so the next daemon's step
starts from it.
"""

from __future__ import annotations

import asyncio
import copy
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from aman.workflows.model import WorkflowInstance, WorkflowRepository

#: Recently moved instances kept (alone on the store): an entry leaves only after this many other
#: instances moved, long after its queued write committed (a group commit takes milliseconds).
CACHE_SIZE = 4096


class InstanceHolds(Protocol):
    """Holds shared by the daemons on one store (a name is one task's at a time)."""

    async def acquire(self, name: str) -> None:
        """Wait until ``name`` is this caller's alone, on every daemon."""
        ...

    async def release(self, name: str) -> None:
        """Give ``name`` back."""
        ...


class InstanceGuard:
    """Serialises steps per instance and serves their latest state."""

    def __init__(self, repo: WorkflowRepository, holds: InstanceHolds | None) -> None:
        self._repo = repo
        self._holds = holds
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key → (lock, holders+waiters)
        self._cache: OrderedDict[str, WorkflowInstance] = OrderedDict()

    @property
    def shared(self) -> bool:
        """Whether other daemons move instances of the same store (steps commit at once)."""
        return self._holds is not None

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` (an instance id, or a definition's start) for one step."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                if self._holds is None:
                    yield
                    return
                name = f"workflow:{key}"
                await self._holds.acquire(name)
                try:
                    yield
                finally:
                    await self._holds.release(name)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def load(self, instance_id: str) -> WorkflowInstance | None:
        """The instance's latest state: cached when alone on the store, else the stored row."""
        cached = self._cache.get(instance_id)
        if cached is not None:
            self._cache.move_to_end(instance_id)
            return cached
        return await self._repo.get(instance_id)

    def remember(self, instance: WorkflowInstance) -> None:
        """Keep the state a step left (alone on the store; shared, the row is read again)."""
        if self._holds is not None:
            return
        cached = copy.copy(instance)
        cached.history = []
        self._cache[instance.id] = cached
        self._cache.move_to_end(instance.id)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
