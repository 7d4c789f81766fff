"""The clock's sleep: real on the system clock, moved by the test on the manual one."""

from __future__ import annotations

import asyncio

import pytest

from aman.clock import SystemClock, sleep_unless
from tests.helpers import ManualClock, wait_for


async def test_the_system_clock_sleeps_for_real() -> None:
    clock = SystemClock()
    started = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() - started >= 0.01
    await clock.sleep(-1)  # a deadline already past returns at once


async def test_a_manual_sleeper_wakes_only_when_the_clock_passes_its_time() -> None:
    clock = ManualClock()
    start_ms = clock.now_ms()
    sleeper = asyncio.ensure_future(clock.sleep(5))
    await wait_for(lambda: clock.sleeping == 1, what="the sleeper to wait")
    assert clock.deadlines == [5.0]
    clock.advance(4.999)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(0.001)
    await asyncio.wait_for(sleeper, 5)
    assert clock.now_ms() == start_ms + 5000 and clock.monotonic() == 5.0
    assert clock.sleeping == 0 and clock.slept == [5]


async def test_a_cancelled_manual_sleeper_leaves_no_deadline() -> None:
    clock = ManualClock()
    sleeper = asyncio.ensure_future(clock.sleep(5))
    await wait_for(lambda: clock.sleeping == 1, what="the sleeper to wait")
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock.deadlines == []


async def test_autojump_moves_the_clock_instead_of_waiting() -> None:
    clock = ManualClock(autojump=True)
    await clock.sleep(2.5)
    await clock.sleep(0.5)
    assert clock.slept == [2.5, 0.5] and clock.monotonic() == 3.0


async def test_sleep_unless_wakes_early_on_the_event_or_times_out_on_the_clock() -> None:
    clock = ManualClock()
    wake = asyncio.Event()
    waiting = asyncio.ensure_future(sleep_unless(clock, 60, wake))
    await wait_for(lambda: clock.sleeping == 1, what="the wait to start")
    wake.set()
    assert await asyncio.wait_for(waiting, 5) is True
    assert clock.sleeping == 0  # the clock's sleeper went with it

    wake.clear()
    timing_out = asyncio.ensure_future(sleep_unless(clock, 60, wake))
    await wait_for(lambda: clock.sleeping == 1, what="the wait to start")
    clock.advance(60)
    assert await asyncio.wait_for(timing_out, 5) is False


async def test_wait_for_names_what_it_awaited() -> None:
    with pytest.raises(AssertionError, match="waiting for the moon to rise"):
        await wait_for(lambda: False, 0.05, what="the moon to rise")
    with pytest.raises(AssertionError, match=r"lambda: 1 == 2"):
        await wait_for(lambda: 1 == 2, 0.05)

    async def ready() -> str:
        return "yes"

    assert await wait_for(ready) == "yes"
