"""Memory in a chat turn: the snapshot added to the system prompt, and the silent turn that
lets the agent save what matters before older messages leave its context.

The silent turn is one model call (and its tool rounds) offered only the memory tools, over the
messages about to be dropped; its text is neither stored nor sent. It runs once for each new
stretch of dropped history and is recorded as ``memory:flush_ran``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aman.llm.provider import ChatMessage, CompletionRequest, Done, ToolCall, ToolSpec
from aman.memory.model import FLUSH_RAN
from aman.memory.service import MemoryService

if TYPE_CHECKING:
    from aman.agents import Agent
    from aman.chat.model import StoredMessage
    from aman.chat.react import ToolLoop
    from aman.events.bus import EventBus
    from aman.llm.registry import ProviderRegistry
    from aman.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

MEMORY_TOOLS = ("memory", "memory_search", "memory_get")
FLUSH_INSTRUCTION = (
    "Older messages of this conversation are about to leave your context. Save what matters "
    "from them with the memory tool (facts, decisions, what you learned about your person); "
    "consolidate instead of repeating what memory already holds. Your reply is not shown.")
#: Tool rounds the silent turn may take.
_MAX_ROUNDS = 3
_SESSIONS_KEPT = 10_000


class MemoryTurns:
    """What a turn asks of memory: the prompt block, and the flush before trimming."""

    def __init__(self, memory: MemoryService, *, llm: ProviderRegistry, tools: ToolRegistry,
                 loop: ToolLoop, bus: EventBus) -> None:
        self._memory = memory
        self._llm = llm
        self._tools = tools
        self._loop = loop
        self._bus = bus
        self._flushed: OrderedDict[str, str] = OrderedDict()  # session → last dropped id saved

    async def system_block(self, agent_id: str, session_id: str) -> str | None:
        """The memory snapshot of the session (None: memory off or out of scope)."""
        return await self._memory.snapshot(agent_id, session_id)

    async def before_trim(self, agent: Agent, session_id: str, reply_id: str, system: str,
                          dropped: Sequence[StoredMessage]) -> None:
        """Give the agent one silent turn to save memories from ``dropped`` (once per stretch)."""
        settings = self._memory.settings(agent.agent_id).memory
        if not dropped or not settings.enabled or self._flushed.get(session_id) == dropped[-1].id:
            return
        if not await self._memory.in_scope(agent.agent_id, session_id):
            return
        self._flushed[session_id] = dropped[-1].id
        self._flushed.move_to_end(session_id)
        while len(self._flushed) > _SESSIONS_KEPT:
            self._flushed.popitem(last=False)
        specs = tuple(ToolSpec(t.name, t.description, t.schema())
                      for t in self._tools.offered(agent.settings.tools)
                      if t.name in MEMORY_TOOLS)
        messages: list[ChatMessage] = [ChatMessage("system", system)]
        messages += [ChatMessage("user" if m.role == "user" else "assistant",
                                 m.model_text or m.content) for m in dropped]
        messages.append(ChatMessage("user", FLUSH_INSTRUCTION))
        request = CompletionRequest(messages=tuple(messages), model=agent.model,
                                    max_tokens=agent.settings.max_output_tokens, tools=specs)
        context: dict[str, object] = {"session_id": session_id, "agent_id": agent.agent_id,
                                      "purpose": "memory_flush"}
        results: list[dict[str, Any]] = []
        for _ in range(_MAX_ROUNDS):
            calls = await self._round(agent, request, context)
            if not calls or not specs:
                break
            done = await self._loop.run(calls, agent=agent.settings, session_id=session_id,
                                        agent_id=agent.agent_id, message_id=reply_id)
            results += done
            step = [ChatMessage("assistant", "", tool_calls=tuple(calls))]
            step += [ChatMessage("tool", str(r.get("output")), tool_call_id=c.id)
                     for c, r in zip(calls, done, strict=False)]
            request = CompletionRequest(messages=request.messages + tuple(step),
                                        model=request.model, max_tokens=request.max_tokens,
                                        tools=specs)
        self._bus.emit(FLUSH_RAN, {"session_id": session_id, "agent_id": agent.agent_id,
                                   "dropped_messages": len(dropped), "tool_calls": len(results),
                                   "saved": sum(1 for r in results
                                                if r.get("tool") == "memory"
                                                and r.get("status") == "success")},
                       source="memory")

    async def _round(self, agent: Agent, request: CompletionRequest,
                     context: dict[str, object]) -> list[ToolCall]:
        calls: list[ToolCall] = []
        stream = self._llm.stream(agent.provider, request, context=context)
        with contextlib.suppress(Exception):  # a failed flush never fails the person's turn
            async with contextlib.aclosing(stream):
                async for item in stream:
                    if isinstance(item, ToolCall):
                        calls.append(item)
                    elif isinstance(item, Done):
                        break
        return calls
