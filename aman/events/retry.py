"""RetryPolicy: how many times a failing handler is retried, and how long to wait before each."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: ±10 % jitter so handlers failing together do not retry in lock-step.
_JITTER = 0.1


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff sequence in ms (the last value repeats) and the retry budget."""

    backoff_ms: tuple[int, ...] = (100, 500, 2000)
    max_retries: int = 3

    def delay_sec(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        index = min(retry_number, len(self.backoff_ms)) - 1
        base = self.backoff_ms[max(0, index)] / 1000
        return base * (1 + random.uniform(-_JITTER, _JITTER))


#: The longest delay a handler may ask for; a platform asking for more is retried after this.
MAX_REQUESTED_DELAY_SEC = 3600.0


def requested_delay(exc: BaseException) -> float | None:
    """The delay a failed handler asked for before its next attempt, in seconds.

    A handler raises an exception carrying ``retry_after_sec`` when the far side said when to
    come back (HTTP 429 ``Retry-After``, Telegram's ``retry_after``); the bus then waits at
    least that long instead of its own backoff step.
    """
    value = getattr(exc, "retry_after_sec", None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return min(float(value), MAX_REQUESTED_DELAY_SEC)
