"""Usage repository contract: one row per model call, queued, summed per group and per budget."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aman.usage.model import UsageRecord
from tests.store.contract.backends import Backend, Repositories

DAY = 86_400_000
#: 2026-03-01T00:00:00Z
MARCH_1 = 1_772_323_200_000


def call(ts: int, **fields: Any) -> UsageRecord:
    made = UsageRecord(ts_ms=ts, agent_id="main", session_id="s1", purpose="chat",
                       provider="openai", model="gpt-x", result="ok", input_tokens=100,
                       output_tokens=10, cached_tokens=20, duration_ms=12.5, cost=0.001)
    return replace(made, **fields)


async def test_nothing_recorded_sums_to_nothing(store: Repositories) -> None:
    assert await store.usage.totals(from_ms=0, to_ms=2**62, group_by=None) == []
    assert await store.usage.spent_since(0) == []


async def test_totals_sum_calls_in_the_window(store: Repositories) -> None:
    store.usage.add(call(MARCH_1))
    store.usage.add(call(MARCH_1 + 1, input_tokens=50, output_tokens=5, cached_tokens=0,
                         duration_ms=0.25, cost=0.0005))
    store.usage.add(call(MARCH_1 + DAY))  # outside [from, to)
    await store.usage.flush()
    assert await store.usage.totals(from_ms=MARCH_1, to_ms=MARCH_1 + DAY, group_by=None) == [
        {"key": "", "calls": 2, "input_tokens": 150, "output_tokens": 15, "cached_tokens": 20,
         "cost": 0.0015, "duration_ms": 12.75}]


async def test_totals_group_by_each_key_in_key_order(store: Repositories) -> None:
    store.usage.add(call(MARCH_1, agent_id=None, purpose="idle", provider="local",
                         model="llama", cost=None))
    store.usage.add(call(MARCH_1 + DAY + 5, agent_id="helper", purpose="chat"))
    store.usage.add(call(MARCH_1 + 10, agent_id="main", purpose="explore", model="gpt-y"))
    await store.usage.flush()

    async def keys(group_by: str) -> list[tuple[object, object, object]]:
        rows = await store.usage.totals(from_ms=0, to_ms=2**62, group_by=group_by)
        return [(row["key"], row["calls"], row["cost"]) for row in rows]

    assert await keys("agent") == [("", 1, None), ("helper", 1, 0.001), ("main", 1, 0.001)]
    assert await keys("purpose") == [("chat", 1, 0.001), ("explore", 1, 0.001),
                                     ("idle", 1, None)]
    assert await keys("provider") == [("local", 1, None), ("openai", 2, 0.002)]
    assert await keys("model") == [("gpt-x", 1, 0.001), ("gpt-y", 1, 0.001), ("llama", 1, None)]
    assert await keys("day") == [("2026-03-01", 2, 0.001), ("2026-03-02", 1, 0.001)]


async def test_spent_since_sums_tokens_per_agent_and_purpose(store: Repositories) -> None:
    store.usage.add(call(MARCH_1 - 1))  # before the window
    store.usage.add(call(MARCH_1))
    store.usage.add(call(MARCH_1 + 1, output_tokens=40))
    store.usage.add(call(MARCH_1 + 2, agent_id=None, purpose="idle"))
    await store.usage.flush()
    assert sorted(await store.usage.spent_since(MARCH_1)) == [("", "idle", 110),
                                                             ("main", "chat", 250)]


async def test_usage_survives_a_restart(store_backend: Backend, store: Repositories) -> None:
    store.usage.add(call(MARCH_1))
    reopened = await store_backend.reopen()
    assert await reopened.usage.spent_since(0) == [("main", "chat", 110)]
