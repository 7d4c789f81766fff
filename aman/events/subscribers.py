"""The bus's values: a subscriber, what a publish did, and the counters metrics read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aman.events.filters import EventMatcher
from aman.events.model import Event, Priority
from aman.events.retry import requested_delay

Handler = Callable[[Event], Awaitable[None]]
Unsubscribe = Callable[[], None]
Observer = Callable[[Event], None]


@dataclass(frozen=True)
class PublishResult:
    """What happened to a published event."""

    event: Event
    duplicate: bool = False
    dropped: str | None = None


@dataclass
class Subscriber:
    """One named handler with its filter and timeout."""

    name: str
    handler: Handler
    filter: EventMatcher
    timeout: float | None  # None: the bus's handler_timeout_sec at call time


@dataclass
class BusStats:
    """Counters and gauges read by metrics, /debug/metrics and the SSE snapshot."""

    published: int = 0
    delivered: int = 0
    discarded: int = 0
    duplicates: int = 0
    expired: int = 0
    rate_limited: int = 0
    refused: int = 0
    handler_failures: int = 0
    dead_lettered: int = 0
    retries_pending: int = 0
    inflight: int = 0
    depth: dict[str, int] = field(default_factory=lambda: {p.value: 0 for p in Priority})


async def call_handler(sub: Subscriber, event: Event,
                       default_timeout: float) -> tuple[str | None, float | None]:
    """Run one delivery: the error (None on success) and the retry delay it asked for, if any."""
    timeout = sub.timeout or default_timeout
    try:
        await asyncio.wait_for(sub.handler(event), timeout=timeout)
    except TimeoutError:
        return f"timed out after {timeout:g}s", None
    except Exception as exc:  # a handler's failure is data, never the bus's problem
        return f"{type(exc).__name__}: {exc}", requested_delay(exc)
    return None, None
