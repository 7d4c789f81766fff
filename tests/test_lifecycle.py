"""LifecycleStack and TaskTracker: reverse order, every error collected, timeouts named."""

from __future__ import annotations

import asyncio

import pytest

from aman.core.lifecycle import LifecycleStack, StopErrors, TaskTracker
from tests.helpers import hang, wait_for


async def test_unwinds_in_reverse_and_collects_every_error() -> None:
    stack = LifecycleStack()
    order: list[str] = []

    def stopper(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
        async def stop() -> None:
            order.append(name)
            if fail:
                raise RuntimeError(f"{name} broke")

        return stop

    stack.push("db", stopper("db"))
    stack.push("bus", stopper("bus", fail=True))
    stack.push("sources", stopper("sources", fail=True))
    with pytest.raises(StopErrors) as info:
        await stack.unwind(timeout_per_item=1)
    assert order == ["sources", "bus", "db"]
    assert [name for name, _ in info.value.errors] == ["sources", "bus"]
    assert len(stack) == 0


async def test_a_stuck_stop_times_out_by_name_and_the_rest_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    stack = LifecycleStack()
    ran: list[str] = []

    async def first() -> None:
        ran.append("first")

    async def stuck() -> None:
        await hang()

    stack.push("first", first)
    stack.push("stuck-thing", stuck)
    with pytest.raises(StopErrors) as info:
        await stack.unwind(timeout_per_item=0.05)
    assert ran == ["first"]
    assert info.value.errors[0][0] == "stuck-thing"
    assert "stuck-thing" in caplog.text


async def test_task_tracker_cancels_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    tracker = TaskTracker()

    async def forever() -> None:
        await hang()

    async def boom() -> None:
        raise ValueError("kaput")

    tracker.spawn("forever", forever())
    tracker.spawn("boom", boom())
    await wait_for(lambda: tracker.running == ["forever"], what="the failing task to end")

    assert "boom" in caplog.text and "kaput" in caplog.text
    await tracker.cancel_all(timeout=1)
    await asyncio.sleep(0)
    assert tracker.running == []
