"""UsageService: records every model call, answers totals, and keeps the daily budgets.

Recording is on the call's path, so it only queues a row for the group-committed writer and
adds to in-memory counters of today's tokens per agent; budget checks read those counters. The
counters are rebuilt from the store at start, so a restart forgets nothing spent today.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from aman.clock import Clock
from aman.config.agents import PriceSettings
from aman.config.budgets import BudgetSettings
from aman.errors import InvalidInputError
from aman.llm.registry import CallRecord
from aman.metrics import Metrics
from aman.usage.model import GROUPINGS, BudgetExhaustedError, UsageRecord, purpose_of

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000


class UsageRepository(Protocol):
    """What the service needs from the store."""

    def add(self, record: UsageRecord) -> None: ...  # noqa: D102
    async def flush(self) -> None: ...  # noqa: D102
    async def totals(self, *, from_ms: int, to_ms: int,  # noqa: D102
                     group_by: str | None) -> list[dict[str, object]]: ...
    async def spent_since(self, since_ms: int) -> list[tuple[str, str, int]]: ...  # noqa: D102


#: Raises a warning notification: (dedup key, title, message).
Warn = Callable[[str, str, str], Coroutine[Any, Any, object]]


def cost_of(prices: PriceSettings | None, record: CallRecord) -> float | None:
    """The call's cost from per-million-token prices (None without prices)."""
    if prices is None:
        return None
    cached_price = prices.cached if prices.cached is not None else prices.input
    fresh = max(0, record.input_tokens - record.cached_tokens)
    return round((fresh * prices.input + record.cached_tokens * cached_price
                  + record.output_tokens * prices.output) / 1_000_000, 8)


class UsageService:
    """Usage rows, totals, and today's tokens per agent for the budgets."""

    def __init__(self, repo: UsageRepository, clock: Clock, *,
                 prices: Callable[[str], PriceSettings | None],
                 budgets: Callable[[], BudgetSettings], warn: Warn,
                 spawn: Callable[[str, Coroutine[Any, Any, Any]], object],
                 metrics: Metrics | None = None) -> None:
        self._repo = repo
        self._clock = clock
        self._prices = prices
        self._budgets = budgets
        self._warn = warn
        self._spawn = spawn
        self._metrics = metrics
        self._day = -1
        self._background: dict[str, int] = defaultdict(int)  # agent → tokens today, not chat
        self._all: dict[str, int] = defaultdict(int)  # agent → tokens today, everything

    async def start(self) -> None:
        """Rebuild today's counters from the store."""
        self._roll(force=True)
        for agent, purpose, tokens in await self._repo.spent_since(self._day * _DAY_MS):
            self._count(agent, purpose, tokens)

    async def stop(self) -> None:
        """Commit the rows still queued."""
        await self._repo.flush()

    async def refresh(self) -> None:
        """Recount today's tokens from the store: daemons sharing it spend the same budgets."""
        await self._repo.flush()
        self._roll()
        day = self._day
        spent = await self._repo.spent_since(day * _DAY_MS)
        if day != self._day:  # midnight passed meanwhile: the roll already reset the counters
            return
        self._background.clear()
        self._all.clear()
        for agent, purpose, tokens in spent:
            self._count(agent, purpose, tokens)

    # --- recording -------------------------------------------------------------------------

    def record(self, call: CallRecord) -> UsageRecord:
        """Record one finished call (the LLM registry calls this for every call)."""
        context = call.context
        agent = context.get("agent_id")
        session = context.get("session_id")
        record = UsageRecord(
            ts_ms=self._clock.now_ms(), agent_id=str(agent) if agent else None,
            session_id=str(session) if session else None,
            purpose=purpose_of(context.get("purpose")), provider=call.provider,
            model=call.model, result=call.result, input_tokens=call.input_tokens,
            output_tokens=call.output_tokens, cached_tokens=call.cached_tokens,
            duration_ms=call.duration_ms, cost=cost_of(self._prices(call.provider), call))
        self._repo.add(record)
        self._roll()
        self._count(record.agent_id or "", record.purpose, record.tokens)
        if self._metrics is not None:
            labels = (record.agent_id or "", record.purpose)
            self._metrics.usage_tokens.labels(*labels, "input").inc(record.input_tokens)
            self._metrics.usage_tokens.labels(*labels, "output").inc(record.output_tokens)
            if record.cost:
                self._metrics.usage_cost.labels(*labels).inc(record.cost)
        return record

    # --- budgets ---------------------------------------------------------------------------

    def exhausted(self, agent_id: str, purpose: str) -> str | None:
        """Why ``agent_id`` may not spend more on ``purpose`` today, or None when it may."""
        self._roll()
        limits = self._budgets().for_agent(agent_id)
        if limits.daily_tokens_all is not None and self._all[agent_id] >= limits.daily_tokens_all:
            return (f"agent {agent_id} spent {self._all[agent_id]} of its "
                    f"{limits.daily_tokens_all} tokens for today (budgets.daily_tokens_all)")
        if (purpose_of(purpose) != "chat" and limits.daily_tokens is not None
                and self._background[agent_id] >= limits.daily_tokens):
            return (f"agent {agent_id} spent {self._background[agent_id]} of its "
                    f"{limits.daily_tokens} background tokens for today (budgets.daily_tokens)")
        return None

    def check(self, agent_id: str, purpose: str) -> None:
        """Raise ``BudgetExhaustedError`` (and warn once a day) when the budget is spent."""
        reason = self.exhausted(agent_id, purpose)
        if reason is None:
            return
        day = datetime.fromtimestamp(self._day * 86_400, UTC).date().isoformat()
        self._spawn(f"usage:warn:{agent_id}", self._warn(
            f"budget:{agent_id}:{day}", f"Agent {agent_id} spent its token budget for {day}",
            f"{reason}. Background runs are skipped until the next day (UTC)"
            + ("; chat is refused too." if "daily_tokens_all" in reason else "; chat goes on.")))
        raise BudgetExhaustedError(reason, details={"agent_id": agent_id, "purpose": purpose})

    def turn_limit(self, agent_id: str) -> int | None:
        """The most tokens one turn of ``agent_id`` may use (None: no limit)."""
        return self._budgets().for_agent(agent_id).max_turn_tokens

    def spent_today(self, agent_id: str) -> dict[str, int]:
        """Tokens ``agent_id`` used today: background and all."""
        self._roll()
        return {"background": self._background[agent_id], "all": self._all[agent_id]}

    # --- totals ----------------------------------------------------------------------------

    async def totals(self, *, from_ms: int | None, to_ms: int | None,
                     group_by: str | None) -> dict[str, Any]:
        """Totals over ``[from, to)`` (default: today so far), grouped or not."""
        if group_by is not None and group_by not in GROUPINGS:
            raise InvalidInputError(f"group_by must be one of {', '.join(GROUPINGS)}, "
                                    f"not {group_by!r}", code="invalid_group_by",
                                    hint="Leave it out for one total.")
        now = self._clock.now_ms()
        start = from_ms if from_ms is not None else now - now % _DAY_MS
        end = to_ms if to_ms is not None else now + 1
        if end <= start:
            raise InvalidInputError("to must be after from", code="invalid_range",
                                    hint="Times are epoch milliseconds; from is inclusive.")
        await self._repo.flush()
        groups = await self._repo.totals(from_ms=start, to_ms=end, group_by=group_by)
        total = await self._repo.totals(from_ms=start, to_ms=end, group_by=None)
        empty = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0,
                 "cost": None, "duration_ms": 0.0}
        overall = {k: v for k, v in (total[0] if total else empty).items() if k != "key"}
        return {"from": start, "to": end, "group_by": group_by, "total": overall,
                "groups": groups if group_by is not None else []}

    # --- internals -------------------------------------------------------------------------

    def _roll(self, *, force: bool = False) -> None:
        day = self._clock.now_ms() // _DAY_MS
        if force or day != self._day:
            self._day = day
            self._background.clear()
            self._all.clear()

    def _count(self, agent: str, purpose: str, tokens: int) -> None:
        self._all[agent] += tokens
        if purpose != "chat":
            self._background[agent] += tokens
