"""Token budgets: daily limits per agent for background work (and optionally all work), and a
limit per turn. Absent values mean no limit."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BudgetLimits(BaseModel):
    """The limits of one agent (or every agent's default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    daily_tokens: int | None = Field(
        None, ge=1, description="Tokens per UTC day for background work (everything but chat).")
    daily_tokens_all: int | None = Field(
        None, ge=1, description="Tokens per UTC day for all work; when spent, chat stops too.")
    max_turn_tokens: int | None = Field(
        None, ge=1, description="Tokens one turn may use across its tool rounds.")


class BudgetSettings(BudgetLimits):
    """Every agent's limits, and per-agent overrides under ``agents``."""

    agents: dict[str, BudgetLimits] = Field(default_factory=dict,
                                            description="Per-agent limits replacing these.")

    def for_agent(self, agent_id: str | None) -> BudgetLimits:
        """The limits that apply to ``agent_id``: its own entry's values, else the defaults."""
        own = self.agents.get(agent_id or "")
        if own is None:
            return self
        return BudgetLimits(
            daily_tokens=own.daily_tokens if own.daily_tokens is not None else self.daily_tokens,
            daily_tokens_all=(own.daily_tokens_all if own.daily_tokens_all is not None
                              else self.daily_tokens_all),
            max_turn_tokens=(own.max_turn_tokens if own.max_turn_tokens is not None
                             else self.max_turn_tokens))
