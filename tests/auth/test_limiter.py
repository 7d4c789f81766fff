from __future__ import annotations

from aman.auth.limiter import FailureLimiter


def test_an_address_is_blocked_after_the_limit_within_the_window() -> None:
    limiter = FailureLimiter(max_failures=3, window_ms=1_000, block_ms=5_000)
    assert [limiter.failed("a", t) for t in (0, 10, 20)] == [False, False, True]
    assert limiter.blocked_for_ms("a", 20) == 5_000
    assert limiter.blocked_for_ms("b", 20) == 0
    assert limiter.blocked_for_ms("a", 5_020) == 0


def test_failures_outside_the_window_do_not_count() -> None:
    limiter = FailureLimiter(max_failures=3, window_ms=1_000, block_ms=5_000)
    assert [limiter.failed("a", t) for t in (0, 600, 1_200, 1_800)] == [False] * 4
    assert limiter.blocked_for_ms("a", 1_800) == 0


def test_a_block_starts_once() -> None:
    limiter = FailureLimiter(max_failures=2, window_ms=1_000, block_ms=5_000)
    starts = [limiter.failed("a", t) for t in range(0, 10)]
    assert starts.count(True) == 1


def test_a_zero_limit_never_blocks() -> None:
    limiter = FailureLimiter(max_failures=0)
    assert not any(limiter.failed("a", t) for t in range(100))
    assert limiter.blocked_for_ms("a", 100) == 0
