from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aman.config.agents import PriceSettings
from aman.config.budgets import BudgetSettings
from aman.llm.registry import CallRecord
from aman.store.db import Database
from aman.store.migrate import migrate
from aman.store.usage import SqlUsageRepository
from aman.store.writer import BatchWriter
from aman.usage.model import BudgetExhaustedError, purpose_of
from aman.usage.service import UsageService, cost_of
from tests.helpers import ManualClock

DAY_MS = 86_400_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Database, BatchWriter]]:
    db = Database(tmp_path / "aman.db")
    await db.open()
    await migrate(db)
    writer = BatchWriter(db)
    await writer.start()
    yield db, writer
    await writer.stop()
    await db.close()


def call(agent: str, purpose: str, tokens: tuple[int, int], cached: int = 0) -> CallRecord:
    return CallRecord(provider="p", model="m", result="ok", input_tokens=tokens[0],
                      output_tokens=tokens[1], cached_tokens=cached, duration_ms=5.0,
                      context={"agent_id": agent, "purpose": purpose, "session_id": "s1"})


def service(store: tuple[Database, BatchWriter], clock: ManualClock,
            budgets: BudgetSettings, warned: list[str]) -> UsageService:
    async def warn(key: str, title: str, message: str) -> None:
        warned.append(key)

    spawned: list[Any] = []
    return UsageService(SqlUsageRepository(*store), clock, prices=lambda name: None,
                        budgets=lambda: budgets, warn=warn,
                        spawn=lambda name, coro: spawned.append(coro.close()))


def test_cost_counts_cached_input_at_its_own_price() -> None:
    prices = PriceSettings(input=2.0, output=8.0, cached=0.5)
    assert cost_of(prices, call("a", "chat", (1000, 100), cached=400)) == pytest.approx(
        (600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6)
    assert cost_of(None, call("a", "chat", (1, 1))) is None


def test_purposes_are_normalised() -> None:
    assert purpose_of("explore.score") == "explore"
    assert purpose_of(None) == "chat"
    assert purpose_of("unknown") == "chat"


async def test_background_budget_spares_chat_and_survives_a_restart(
        store: tuple[Database, BatchWriter]) -> None:
    clock, warned = ManualClock(10 * DAY_MS + 1000), []
    budgets = BudgetSettings(daily_tokens=100)
    usage = service(store, clock, budgets, warned)
    await usage.start()
    usage.record(call("a", "idle", (60, 50)))
    usage.record(call("a", "chat", (500, 500)))
    with pytest.raises(BudgetExhaustedError):
        usage.check("a", "idle")
    usage.check("a", "chat")  # chat goes on
    usage.check("b", "idle")  # another agent has its own budget
    await usage.stop()
    again = service(store, clock, budgets, warned)
    await again.start()
    assert again.spent_today("a") == {"background": 110, "all": 1110}
    clock.now += DAY_MS  # a new UTC day
    again.check("a", "idle")


async def test_spending_on_another_daemon_counts_after_a_refresh(
        store: tuple[Database, BatchWriter]) -> None:
    # Two daemons sharing one store: each records its own calls; refresh recounts from the store.
    clock = ManualClock(10 * DAY_MS + 1000)
    budgets = BudgetSettings(daily_tokens=100)
    here, there = service(store, clock, budgets, []), service(store, clock, budgets, [])
    await here.start()
    await there.start()
    here.record(call("a", "idle", (30, 30)))
    there.record(call("a", "idle", (30, 30)))
    here.check("a", "idle")  # each saw only its own 60 tokens
    await there.stop()
    await here.refresh()
    assert here.spent_today("a") == {"background": 120, "all": 120}
    with pytest.raises(BudgetExhaustedError):
        here.check("a", "idle")


async def test_all_purposes_budget_stops_chat(store: tuple[Database, BatchWriter]) -> None:
    usage = service(store, ManualClock(0), BudgetSettings(daily_tokens_all=10), [])
    await usage.start()
    usage.record(call("a", "chat", (8, 8)))
    with pytest.raises(BudgetExhaustedError, match="daily_tokens_all"):
        usage.check("a", "chat")


async def test_totals_group_and_sum(store: tuple[Database, BatchWriter]) -> None:
    usage = service(store, ManualClock(DAY_MS + 5), BudgetSettings(), [])
    await usage.start()
    usage.record(call("a", "idle", (1, 2)))
    usage.record(call("b", "chat", (3, 4)))
    usage.record(call("b", "chat", (5, 6)))
    out = await usage.totals(from_ms=None, to_ms=None, group_by="agent")
    assert out["total"]["calls"] == 3 and out["total"]["input_tokens"] == 9
    assert [(g["key"], g["calls"], g["output_tokens"]) for g in out["groups"]] == [
        ("a", 1, 2), ("b", 2, 10)]
