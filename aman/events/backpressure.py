"""Backpressure levels by queue fill, and the per-source token-bucket rate limiter."""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass


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
        """Normalised 0.0-1.0 for the metric (the original's scale)."""
        return self.severity / 5


_ORDER = [Level.NORMAL, Level.L1, Level.L2, Level.L3, Level.L4, Level.CRITICAL]
#: Fill thresholds, highest first (issue #3: 80/90/95/98/100 %).
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
        """Apply a live change (POST /config/set, issue #5): buckets keep their tokens, capped."""
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
