"""Refused credentials counted per source address: too many in a minute, and that address waits.

A leaked or guessed key is cheap to try; this makes trying slow. Counting is per address so a
client guessing keys never locks out the others.
"""

from __future__ import annotations

from collections import OrderedDict, deque

#: Failures from one address within WINDOW_MS that trigger the block.
MAX_FAILURES = 20
WINDOW_MS = 60_000
#: How long a blocked address gets 429.
BLOCK_MS = 60_000
#: Addresses remembered at once; the oldest is forgotten first (a flood of spoofed sources
#: cannot grow memory without bound).
_MAX_ADDRESSES = 10_000


class FailureLimiter:
    """Counts refused credentials per address and blocks an address past the limit."""

    def __init__(self, *, max_failures: int = MAX_FAILURES, window_ms: int = WINDOW_MS,
                 block_ms: int = BLOCK_MS) -> None:
        self._max = max_failures
        self._window = window_ms
        self._block = block_ms
        self._failures: OrderedDict[str, deque[int]] = OrderedDict()
        self._blocked_until: dict[str, int] = {}

    def blocked_for_ms(self, address: str, now_ms: int) -> int:
        """How much longer ``address`` is blocked (0: not blocked)."""
        until = self._blocked_until.get(address)
        if until is None:
            return 0
        if now_ms >= until:
            del self._blocked_until[address]
            return 0
        return until - now_ms

    def failed(self, address: str, now_ms: int) -> bool:
        """Count one refusal; True when this one starts a block (audit it once)."""
        if self._max <= 0:
            return False
        times = self._failures.pop(address, None) or deque()
        self._failures[address] = times
        times.append(now_ms)
        while times and times[0] <= now_ms - self._window:
            times.popleft()
        while len(self._failures) > _MAX_ADDRESSES:
            self._failures.popitem(last=False)
        if len(times) >= self._max and address not in self._blocked_until:
            self._blocked_until[address] = now_ms + self._block
            times.clear()
            return True
        return False
