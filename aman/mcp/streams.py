"""WatchedStream: a transport's read stream that says when the server closed the connection.

The SDK's session fails pending requests when its read stream ends but tells nobody else; the
connection's watcher needs to know at once to mark the server failed and reconnect.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self


class WatchedStream:
    """Delegates to ``inner``; sets ``ended`` once it is exhausted or closed."""

    def __init__(self, inner: Any, ended: asyncio.Event) -> None:
        self._inner = inner
        self._ended = ended

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # last_context and friends

    async def receive(self) -> Any:
        """Next item; the end of the stream is noted."""
        try:
            return await self._inner.receive()
        except Exception:
            self._ended.set()
            raise

    async def aclose(self) -> None:
        """Close the inner stream."""
        self._ended.set()
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except BaseException:
            self._ended.set()
            raise

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        self._ended.set()
        result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
        return result
