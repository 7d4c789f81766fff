"""The agent's tool calls inside a chat turn (the "act" of the ReAct loop).

For each call the model asks for: refuse a tool the agent was not offered; screen it (a hardline
block is final: nobody is asked, ``auto_approve`` does not lift it); ask the approval service with
the effective sensitivity; run it through the registry with the session's context. Every call is
announced with ``llm_tool_call`` and ends with ``llm_tool_result``, whatever happened; the result
goes back to the model as text. Cancelling (stop, close, shutdown) cancels a pending approval and
a running tool (``exec`` kills its process group).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aman.errors import AmanError
from aman.events.types import EventTable
from aman.ids import uuid7
from aman.llm.provider import ToolCall, ToolSpec
from aman.tools.model import Sensitivity, ToolContext, ToolResult, tool_roots
from aman.tools.registry import EVENT_OUTPUT_CHARS, is_offered

if TYPE_CHECKING:
    from aman.config.agents import AgentSettings
    from aman.config.settings import Settings
    from aman.events.bus import EventBus
    from aman.tools.approvals import ApprovalService
    from aman.tools.registry import ToolRegistry

LLM_TOOL_CALL = "llm_tool_call"
LLM_TOOL_RESULT = "llm_tool_result"
MAX_TURNS_REACHED = "agent:max_turns_reached"
#: Types the tool loop emits (part of chat's table, ``aman.chat.sessions.EVENT_TYPES``).
REACT_EVENT_TYPES: EventTable = (
    (LLM_TOOL_CALL, "The model asked to call a tool; payload has the arguments."),
    (LLM_TOOL_RESULT, "A tool call the model asked for finished; payload has its status."),
    (MAX_TURNS_REACHED, "A reply stopped calling tools at agents.<id>.max_react_turns."),
)
SOURCE = "tools"
_DECISION_STATUS = {"denied": "denied", "timeout": "timeout", "cancelled": "failed"}


def result_text(result: dict[str, Any]) -> str:
    """What the model reads for a call's result."""
    output = result.get("output")
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    if result["status"] == "success":
        return text
    return f"[{result['status']}] {result.get('reason') or text}"


def _capped(output: Any) -> str:
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    return text if len(text) <= EVENT_OUTPUT_CHARS else text[:EVENT_OUTPUT_CHARS] + "…"


class ToolLoop:
    """Runs the tool calls of one model round for a session."""

    def __init__(self, *, tools: ToolRegistry, approvals: ApprovalService, bus: EventBus,
                 settings: Callable[[], Settings]) -> None:
        self._tools = tools
        self._approvals = approvals
        self._bus = bus
        self._settings = settings

    def specs(self, agent: AgentSettings) -> tuple[ToolSpec, ...]:
        """The tools this agent's model is offered."""
        return tuple(ToolSpec(t.name, t.description, t.schema())
                     for t in self._tools.offered(agent.tools))

    async def run(self, calls: Sequence[ToolCall], *, agent: AgentSettings, session_id: str,
                  agent_id: str, message_id: str) -> list[dict[str, Any]]:
        """Run ``calls`` and return their results in order; low-sensitivity calls when all of
        them are low run together (they change nothing, so their order cannot matter)."""
        base = {"session_id": session_id, "agent_id": agent_id, "message_id": message_id}

        async def one(call: ToolCall) -> dict[str, Any]:
            return await self._one(call, agent, base)

        if calls and all(self._level(c.name, agent) is Sensitivity.LOW for c in calls):
            return list(await asyncio.gather(*(one(c) for c in calls)))
        return [await one(call) for call in calls]

    def _level(self, name: str, agent: AgentSettings) -> Sensitivity | None:
        """The level a call runs at for this agent (its own overrides first); None if the tool
        is not offered to it or does not exist."""
        if not is_offered(name, agent.tools):
            return None
        try:
            return self._tools.sensitivity(name, agent.tool_sensitivity())
        except AmanError:
            return None

    async def _one(self, call: ToolCall, agent: AgentSettings,
                   base: dict[str, Any]) -> dict[str, Any]:
        call_id = uuid7()
        ids = {**base, "call_id": call_id, "model_call_id": call.id, "tool": call.name}
        self._emit(LLM_TOOL_CALL, {**ids, "arguments": call.arguments})
        result = await self._decide_and_run(call, call_id, agent, base)
        self._emit(LLM_TOOL_RESULT, {**ids, "status": result.status,
                                     "output": _capped(result.output), "reason": result.reason,
                                     "duration_ms": round(result.duration_ms, 3),
                                     "truncated": result.truncated})
        return {"call_id": call.id, "tool": call.name, "status": result.status,
                "output": result.output, "reason": result.reason}

    async def _decide_and_run(self, call: ToolCall, call_id: str, agent: AgentSettings,
                              base: dict[str, Any]) -> ToolResult:
        def refused(status: Any, reason: str) -> ToolResult:
            return ToolResult(call.name, call_id, status, reason, 0.0, reason=reason)

        level = self._level(call.name, agent)
        if level is None:
            return refused("failed", f"tool {call.name!r} is not available to this agent; "
                           "use only the tools offered")
        settings = self._settings()
        ctx = ToolContext(call_id=call_id, session_id=base["session_id"],
                          agent_id=base["agent_id"], roots=tool_roots(settings),
                          max_output_bytes=settings.tools.max_output_bytes,
                          exec_timeout_sec=settings.tools.exec_timeout_sec,
                          emit=lambda t, p: self._bus.emit(t, p, source=SOURCE),
                          turn_id=base["message_id"],
                          network_allow=tuple(settings.tools.network.allow))
        try:
            blocked = await self._tools.screen(call.name, call.arguments, ctx)
            if blocked is not None:
                return blocked
            decision = await self._approvals.request(
                tool=call.name, arguments=call.arguments, sensitivity=level, call_id=call_id,
                session_id=base["session_id"], agent_id=base["agent_id"])
            if not decision.approved:
                return refused(_DECISION_STATUS[decision.outcome],
                               f"not run: {decision.outcome} ({decision.reason})")
            return await self._tools.execute(call.name, call.arguments, ctx)
        except AmanError as exc:  # invalid arguments, a tool gone since it was offered
            return refused("failed", exc.message)

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        self._bus.emit(event_type, payload, source=f"agent:{payload['agent_id']}")
