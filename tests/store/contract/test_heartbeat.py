"""Heartbeat repository contract: every tick stored, read back per agent newest first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aman.heartbeat.model import HeartbeatRun
from tests.store.contract.backends import Backend, Repositories


def tick(id: str, ts: int, agent: str = "main", **fields: Any) -> HeartbeatRun:
    return replace(HeartbeatRun(id=id, agent_id=agent, ts_ms=ts, trigger="schedule",
                                outcome="ok"), **fields)


async def test_ticks_come_back_per_agent_newest_first(store: Repositories) -> None:
    assert await store.heartbeat.recent("main", 10) == []
    alerted = tick("t2", 2_000, trigger="wake", outcome="alerted", session_id="s1",
                   input_tokens=100, output_tokens=7, delivered_to="telegram:home:42",
                   text="The disk is full")
    skipped = tick("t3", 3_000, outcome="skipped", reason="outside_active_hours")
    for run in (tick("t1", 1_000), alerted, skipped, tick("o1", 2_500, agent="other")):
        await store.heartbeat.add(run)
    assert await store.heartbeat.recent("main", 10) == [skipped, alerted, tick("t1", 1_000)]
    assert await store.heartbeat.recent("main", 1) == [skipped]
    assert [r.id for r in await store.heartbeat.recent("other", 10)] == ["o1"]


async def test_ticks_at_the_same_time_come_newest_id_first(store: Repositories) -> None:
    await store.heartbeat.add(tick("01a", 1_000))
    await store.heartbeat.add(tick("01b", 1_000))
    assert [r.id for r in await store.heartbeat.recent("main", 10)] == ["01b", "01a"]


async def test_ticks_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    await store.heartbeat.add(tick("t1", 1_000))
    reopened = await store_backend.reopen()
    assert await reopened.heartbeat.recent("main", 10) == [tick("t1", 1_000)]
