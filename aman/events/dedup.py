"""DedupIndex: at most one event per dedup key within the window, even under racing pushes.

The first push of a key claims it synchronously (no await between check and claim), so 50
concurrent pushes with one key yield one event; the stored index answers after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

#: Keys kept in memory before the oldest tenth is forgotten (storage still has them).
_MEMORY = 100_000

Lookup = Callable[[str, int], Awaitable[str | None]]


class DedupIndex:
    """Maps dedup keys to the id of the event that first used them."""

    def __init__(self, lookup: Lookup, window_ms: int) -> None:
        self._lookup = lookup
        self.window_ms = window_ms
        self._keys: dict[str, tuple[str, int] | asyncio.Future[str]] = {}

    async def claim(self, key: str, event_id: str, now_ms: int) -> str | None:
        """Claim ``key`` for ``event_id``; return the original event id if it is a repeat."""
        found = self._keys.get(key)
        if isinstance(found, asyncio.Future):
            return await asyncio.shield(found)
        if found is not None and found[1] > now_ms:
            return found[0]
        claim: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._keys[key] = claim
        try:
            stored = await self._lookup(key, now_ms)
        except BaseException:
            self._keys.pop(key, None)
            claim.set_result(event_id)
            raise
        original = stored or event_id
        self._keys[key] = (original, now_ms + self.window_ms)
        claim.set_result(original)
        self._trim()
        return stored

    def release(self, key: str) -> None:
        """Forget a claim whose event was not accepted after all."""
        self._keys.pop(key, None)

    def _trim(self) -> None:
        if len(self._keys) <= _MEMORY:
            return
        for stale in list(self._keys)[: len(self._keys) // 10]:
            if not isinstance(self._keys[stale], asyncio.Future):
                del self._keys[stale]
