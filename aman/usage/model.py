"""Usage records and the errors a budget raises; pure values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aman.errors import ConflictError

#: Why a model call ran. ``chat`` is the person's own conversation; the rest is background work.
PURPOSES: tuple[str, ...] = ("chat", "heartbeat", "idle", "explore", "cron", "memory_flush",
                             "delegate")
GROUPINGS: tuple[str, ...] = ("agent", "purpose", "provider", "model", "day")


def purpose_of(raw: object) -> str:
    """A known purpose from a call's context (``explore.score`` counts as ``explore``)."""
    name = str(raw or "chat").split(".", 1)[0]
    return name if name in PURPOSES else "chat"


@dataclass(frozen=True, kw_only=True)
class UsageRecord:
    """One model call: who, why, where, how many tokens, how long, what it cost."""

    ts_ms: int
    agent_id: str | None
    session_id: str | None
    purpose: str
    provider: str
    model: str
    result: str  # ok | error | cancelled
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    duration_ms: float
    cost: float | None

    @property
    def tokens(self) -> int:
        """Input plus output tokens (cached input counts as input)."""
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        """The wire shape."""
        return {"ts": self.ts_ms, "agent_id": self.agent_id, "session_id": self.session_id,
                "purpose": self.purpose, "provider": self.provider, "model": self.model,
                "result": self.result, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cached_tokens": self.cached_tokens,
                "duration_ms": self.duration_ms, "cost": self.cost}


class BudgetExhaustedError(ConflictError):
    """The agent spent its daily token budget for this kind of work."""

    code = "budget_exhausted"
    hint = ("Raise budgets.daily_tokens (or daily_tokens_all), or wait for the next day (UTC); "
            "GET /usage shows what was spent.")


class BudgetExceededError(ConflictError):
    """One turn used more tokens than budgets.max_turn_tokens allows."""

    code = "budget_exceeded"
    hint = "Raise budgets.max_turn_tokens, or ask for less work in one message."


class LoopDetectedError(ConflictError):
    """A background turn repeated the same tool call with the same arguments."""

    code = "loop_detected"
    hint = "The background run was stopped; check the skill or prompt that drove it."
