"""Backpressure levels by queue fill, the per-source token-bucket rate limiter, and the admission
rule the bus applies to every published event with both."""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aman.errors import BackpressureError, RateLimitedError
from aman.events.model import Event, Priority

if TYPE_CHECKING:
    from aman.events.subscribers import BusStats

_log = logging.getLogger(__name__)


class Level(enum.Enum):
    """Backpressure level; the wire name is the value."""

    NORMAL = "normal"
    L1 = "l1"
    L2 = "l2"
    L3 = "l3"
    L4 = "l4"
    CRITICAL = "critical"

    @property
    def severity(self) -> int:
        """0 (normal) to 5 (critical), for comparisons."""
        return _ORDER.index(self)

    @property
    def gauge(self) -> float:
        """Normalised 0.0-1.0 for the metric (the scale dashboards expect)."""
        return self.severity / 5


_ORDER = [Level.NORMAL, Level.L1, Level.L2, Level.L3, Level.L4, Level.CRITICAL]
#: Fill thresholds, highest first (80/90/95/98/100 %).
_THRESHOLDS = ((1.0, Level.CRITICAL), (0.98, Level.L4), (0.95, Level.L3), (0.90, Level.L2),
               (0.80, Level.L1))


def level_for(pending: int, capacity: int) -> Level:
    """The level for ``pending`` queued events out of ``capacity``."""
    if capacity <= 0:
        return Level.CRITICAL
    fill = pending / capacity
    for threshold, level in _THRESHOLDS:
        if fill >= threshold:
            return level
    return Level.NORMAL


def admit(event: Event, *, level: Level, queued: int, capacity: int, wait: float,
          stats: BusStats) -> tuple[Event, str | None]:
    """Apply the source's rate limit (``wait``: seconds until its bucket has a token) and the
    backpressure ``level``: the event (maybe demoted) or why it is dropped; raise if refused."""
    if wait > 0:
        stats.rate_limited += 1
        raise RateLimitedError(
            f"source {event.source!r} is over its rate limit", retry_after=wait,
            hint="Slow down this source or raise event_bus.rate_limit_per_sec / "
                 "rate_limit_burst.",
        )
    if level is Level.CRITICAL and event.priority is Priority.LOW:
        stats.refused += 1
        raise BackpressureError("the event queue is full; low-priority events are refused",
                                retry_after=2.0)
    if event.delivery.guaranteed:
        if level.severity >= Level.L3.severity:
            stats.refused += 1
            raise BackpressureError(
                f"the event queue is {level.value} ({queued}/{capacity}); not accepted",
                retry_after=1.0,
            )
    elif level.severity >= Level.L2.severity:
        return event, f"backpressure_{level.value}"
    elif level.severity >= Level.L1.severity:
        event = event.with_changes(priority=event.priority.demoted())
    return event, None


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per source: ``rate`` tokens a second up to ``burst``."""

    #: Sources remembered at most; the least recently used bucket is forgotten first (a
    #: forgotten source simply starts again with a full bucket).
    MAX_SOURCES = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def reconfigure(self, rate: float, burst: int) -> None:
        """Apply a live change (POST /config/set): buckets keep their tokens, capped."""
        self.rate, self.burst = rate, float(burst)
        for bucket in self._buckets.values():
            bucket.tokens = min(bucket.tokens, self.burst)

    def acquire(self, source: str, now: float) -> float:
        """Take a token; return 0.0 when allowed, else the seconds until one is available."""
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[source] = bucket
            if len(self._buckets) > self.MAX_SOURCES:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class BackpressureReporter:
    """Announces each backpressure level change on the bus and records it in the audit log.

    The bus calls ``changed`` from its hot path, so the audit write runs as a tracked task.
    """

    def __init__(
        self,
        *,
        emit: Callable[[str, dict[str, object]], object],
        queue: Callable[[], tuple[int, int]],
        record_audit: Callable[[str, dict[str, object]], Coroutine[Any, Any, None]],
        spawn: Callable[[str, Coroutine[Any, Any, None]], object],
    ) -> None:
        self._emit = emit
        self._queue = queue  # (pending, capacity)
        self._record_audit = record_audit
        self._spawn = spawn

    def changed(self, previous: Level, level: Level) -> None:
        """Log, announce and audit a move from ``previous`` to ``level``."""
        from aman.events import types as event_types

        pending, capacity = self._queue()
        _log.warning("backpressure %s -> %s (%d queued)", previous.value, level.value, pending)
        payload: dict[str, object] = {"level": level.value, "previous": previous.value,
                                      "pending": pending, "capacity": capacity}
        self._emit(event_types.BACKPRESSURE_CHANGED, payload)
        self._spawn("audit:backpressure", self._record_audit("backpressure.apply", payload))
