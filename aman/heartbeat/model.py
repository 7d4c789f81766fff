"""Heartbeat runs: what one tick did (or why it did nothing); pure values, and the port a store
implements to keep them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aman.events.types import EventTable

#: What a tick can end as.
OUTCOMES = ("ok", "alerted", "failed", "skipped")
#: Why a tick did not run a turn.
SKIP_REASONS = ("empty_file", "outside_active_hours", "busy", "budget_exhausted")

HEARTBEAT_OK_EVENT = "heartbeat:ok"
HEARTBEAT_ALERTED = "heartbeat:alerted"
HEARTBEAT_FAILED = "heartbeat:failed"
HEARTBEAT_SKIPPED = "heartbeat:skipped"
#: A cron job emitting this type (payload ``{agent_id}``) asks the agent's heartbeat to look now.
HEARTBEAT_WAKE = "heartbeat:wake"
#: Every type heartbeat emits or answers, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (HEARTBEAT_OK_EVENT, "A heartbeat tick ran and nothing needed attention."),
    (HEARTBEAT_ALERTED, "A heartbeat tick found something and delivered it."),
    (HEARTBEAT_FAILED, "A heartbeat tick's turn failed."),
    (HEARTBEAT_SKIPPED, "A heartbeat tick was skipped, with the reason."),
    (HEARTBEAT_WAKE, "Asks an agent's heartbeat to tick now (cron jobs emit it)."),
)


@dataclass(frozen=True, kw_only=True)
class HeartbeatRun:
    """One tick."""

    id: str
    agent_id: str
    ts_ms: int
    trigger: str  # schedule | wake
    outcome: str  # ok | alerted | failed | skipped
    reason: str | None = None  # the skip reason, or the failure's code
    session_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    delivered_to: str | None = None  # "telegram:mybot:123", or None
    text: str | None = None  # what was delivered (alerted), or the error (failed)

    def to_json(self) -> dict[str, Any]:
        """The wire shape."""
        return {"id": self.id, "agent_id": self.agent_id, "ts": self.ts_ms,
                "trigger": self.trigger, "outcome": self.outcome, "reason": self.reason,
                "session_id": self.session_id, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "delivered_to": self.delivered_to,
                "text": self.text}


class HeartbeatRepository(Protocol):
    """Storage port for heartbeat runs."""

    async def add(self, run: HeartbeatRun) -> None:
        """Store one tick, committed before it returns."""
        ...

    async def recent(self, agent_id: str, limit: int) -> list[HeartbeatRun]:
        """The agent's latest ticks, newest first."""
        ...
