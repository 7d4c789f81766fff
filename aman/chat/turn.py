"""One agent turn: prompt assembly, history trimming, streaming the reply, and its events.

The turn builds the prompt (the soul's compiled system prompt, which lists the skills, then the
session's visible history trimmed oldest-first to fit the agent's context), streams the reply
from the agent's provider and keeps the reply row up to date: inserted as ``streaming`` when the
stream starts, its partial text saved at most once a second, its final state awaited. Deltas are
announced as ``agent:reply_chunk`` (never stored), coalesced to one per ``chat.chunk_interval_ms``.

With tools the turn is a ReAct loop: the agent's offered tools go with the request;
when the model asks for calls, ``aman.chat.react.ToolLoop`` runs them and their results go back
with the next request, up to ``max_react_turns`` rounds. The rounds are stored on the reply
(``tool_steps``) so the next turn's prompt shows the model its calls and their results again.

A provider failure ends the turn with the reply stored as ``error`` (partial text kept) and an
``llm_error`` fact; cancelling the turn (stop, close, shutdown) stores it as ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aman.chat.model import ChatRepository, StoredMessage
from aman.chat.react import MAX_TURNS_REACHED, REACT_EVENT_TYPES, ToolLoop, result_text
from aman.clock import Clock
from aman.config.agents import ChatSettings
from aman.errors import AmanError
from aman.events.model import Delivery, Event
from aman.events.types import EventTable
from aman.llm.provider import (
    ChatMessage,
    CompletionRequest,
    Delta,
    Done,
    LLMError,
    ToolCall,
    Usage,
)
from aman.usage.model import BudgetExceededError, LoopDetectedError

if TYPE_CHECKING:
    from aman.agents import Agent, AgentService
    from aman.events.bus import EventBus
    from aman.llm.registry import ProviderRegistry
    from aman.memory.turns import MemoryTurns
    from aman.soul.service import SoulService
    from aman.usage.service import UsageService

log = logging.getLogger(__name__)

#: A background turn calling the same tool with the same arguments this often is looping.
_LOOP_REPEATS = 3

REPLY_STREAM_START = "agent:reply_stream_start"
REPLY_CHUNK = "agent:reply_chunk"
REPLY_STREAM_DONE = "agent:reply_stream_done"
REPLY_READY = "agent:reply_ready"
REPLY_INTERRUPTED = "agent:reply_interrupted"
HISTORY_TRIMMED = "agent:history_trimmed"
LLM_ERROR = "llm_error"
#: Types a reply's turn emits (part of chat's table, ``aman.chat.sessions.EVENT_TYPES``).
TURN_EVENT_TYPES: EventTable = (
    (REPLY_STREAM_START, "An agent began streaming a reply."),
    (REPLY_CHUNK, "A piece of a streaming reply (SSE only: never stored or delivered)."),
    (REPLY_STREAM_DONE, "A reply's stream ended; payload has the finish reason and usage."),
    (REPLY_READY, "A reply was stored and can be read."),
    (REPLY_INTERRUPTED, "A reply stopped early (stop request, shutdown); the partial is kept."),
    (HISTORY_TRIMMED, "Old messages were left out of a prompt to fit the context window."),
    (LLM_ERROR, "Generating a reply failed; payload has the error code and a hint."),
    *REACT_EVENT_TYPES,
)

#: The partial text of a streaming reply reaches the disk at most this often: a crash loses at
#: most this much of a reply, and a fast stream costs one queued write a second.
PARTIAL_SAVE_SEC = 1.0
#: Rough size of a token (the scripted provider's estimate too) and per-message framing.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    """About four characters per token, plus a message's framing."""
    return len(text) // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS


def step_messages(steps: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    """Stored tool rounds as the model saw them: its calls, then one ``tool`` message each."""
    messages: list[ChatMessage] = []
    for step in steps:
        calls = tuple(ToolCall(c["id"], c["name"], c.get("arguments") or {})
                      for c in step["calls"])
        messages.append(ChatMessage("assistant", step.get("text", ""), tool_calls=calls))
        messages += [ChatMessage("tool", result_text(r), tool_call_id=r["call_id"], name=r["tool"])
                     for r in step["results"]]
    return messages


def _as_prompt(message: StoredMessage) -> list[ChatMessage]:
    if message.role == "user":
        return [ChatMessage("user", message.prompt_text)]
    steps = message.tool_steps or []
    final = message.prompt_text[sum(len(step.get("text", "")) for step in steps):]
    return [*step_messages(steps), ChatMessage("assistant", final)]


def _cost(message: StoredMessage) -> int:
    return sum(estimate_tokens(m.content) + sum(estimate_tokens(str(c.arguments))
                                                for c in m.tool_calls)
               for m in _as_prompt(message))


@dataclass(frozen=True)
class Prompt:
    """The messages sent to the model and how much history was left out."""

    messages: tuple[ChatMessage, ...]
    dropped_messages: int
    dropped_tokens: int
    budget_tokens: int


def build_prompt(system: str, history: Sequence[StoredMessage], *, max_context_tokens: int,
                 max_output_tokens: int) -> Prompt:
    """System prompt, then the newest complete messages that fit the context; the newest
    message is always kept, even alone over the budget (the provider then says so)."""
    usable = [m for m in history if m.status == "complete" and m.role in ("user", "assistant")]
    budget = max(0, max_context_tokens - max_output_tokens
                 - (estimate_tokens(system) if system else 0))
    kept: list[StoredMessage] = []
    used = 0
    for message in reversed(usable):
        cost = _cost(message)
        if kept and used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    dropped = usable[:len(usable) - len(kept)]
    messages = [ChatMessage("system", system)] if system else []
    for message in kept:
        messages += _as_prompt(message)
    return Prompt(tuple(messages), len(dropped), sum(_cost(m) for m in dropped), budget)


@dataclass
class Turn:
    """One reply to generate: the session, the agent, the history to answer and the reply row."""

    session_id: str
    agent: Agent
    history: list[StoredMessage]
    reply: StoredMessage
    #: The reply's text so far (``GET .../state`` shows it before the next partial save).
    text: list[str] = field(default_factory=list)
    #: The tool rounds so far (stored on the reply as ``tool_steps``).
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: Why the turn was cancelled: stopped | closed | deleted | shutdown.
    stop_reason: str = "stopped"
    #: Set once the final write of a complete or failed reply began (a late cancel keeps it).
    settled: bool = False
    #: The reply as finally stored.
    result: StoredMessage | None = None
    #: Why the session runs (chat, idle, explore, delegate, heartbeat): usage is counted under it.
    purpose: str = "chat"
    #: The model to ask instead of the agent's (None: the agent's).
    model: str | None = None

    @property
    def partial(self) -> str:
        """The text generated so far."""
        return "".join(self.text)


class _Chunks:
    """Coalesces deltas: at most one chunk event per interval; the first goes out at once."""

    def __init__(self, send: Callable[[str, int], None], interval_sec: float) -> None:
        self._send = send
        self._interval = interval_sec
        self._loop = asyncio.get_running_loop()
        self._buffer: list[str] = []
        self._index = 0
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def add(self, text: str) -> None:
        self._buffer.append(text)
        wait = self._last + self._interval - self._loop.time()
        if wait <= 0:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(wait, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        text, self._buffer = "".join(self._buffer), []
        self._last = self._loop.time()
        self._send(text, self._index)
        self._index += 1


class TurnRunner:
    """Runs turns; the session service decides when and moves the session's state."""

    def __init__(self, *, repo: ChatRepository, llm: ProviderRegistry, soul: SoulService,
                 bus: EventBus, agents: AgentService, clock: Clock,
                 settings: Callable[[], ChatSettings], tools: ToolLoop | None = None,
                 usage: UsageService | None = None) -> None:
        self._repo = repo
        self._usage = usage
        #: Memory's prompt block and pre-trim flush; wired by the composition root.
        self._memory: MemoryTurns | None = None
        self._tools = tools
        self._llm = llm
        self._soul = soul
        self._bus = bus
        self._agents = agents
        self._clock = clock
        self._settings = settings

    async def run(self, turn: Turn) -> StoredMessage:
        """Generate and store the reply; return it (complete or error). Cancelling stores it as
        interrupted, announces ``agent:reply_interrupted`` and re-raises."""
        agent = turn.agent
        try:
            self._agents.mark_busy(agent.agent_id, turn.session_id)
        except AmanError:
            log.warning("agent %s is gone; its chat turn goes on", agent.agent_id)
        try:
            return await self._generate(turn)
        except asyncio.CancelledError:
            if not turn.settled:
                await asyncio.shield(self._interrupted(turn))
            raise
        finally:
            self._agents.mark_idle(agent.agent_id, turn.session_id)

    async def _generate(self, turn: Turn) -> StoredMessage:
        agent, reply = turn.agent, turn.reply
        limits = agent.settings
        try:
            system = self._soul.system_prompt(agent.soul, allowed_skills=agent.allowed_skills)
            block = (await self._memory.system_block(agent.agent_id, turn.session_id)
                     if self._memory is not None else None)
        except AmanError as exc:  # the agent's own soul is missing or broken
            self._repo.start_reply(reply)
            return await self._failed(turn, exc)
        system = f"{system}\n\n{block}" if block else system
        prompt = build_prompt(system, turn.history,
                              max_context_tokens=limits.max_context_tokens,
                              max_output_tokens=limits.max_output_tokens)
        if prompt.dropped_messages and self._memory is not None:
            usable = [m for m in turn.history
                      if m.status == "complete" and m.role in ("user", "assistant")]
            await self._memory.before_trim(agent, turn.session_id, reply.id, system,
                                           usable[:prompt.dropped_messages])
        if prompt.dropped_messages:
            self._fact(turn, HISTORY_TRIMMED, dropped_messages=prompt.dropped_messages,
                       dropped_tokens=prompt.dropped_tokens, budget_tokens=prompt.budget_tokens,
                       kept_messages=len(prompt.messages) - 1)
        specs = self._tools.specs(limits) if self._tools is not None else ()
        request = CompletionRequest(messages=prompt.messages, model=turn.model or agent.model,
                                    max_tokens=limits.max_output_tokens,
                                    temperature=limits.temperature, tools=specs)
        self._repo.start_reply(reply)
        self._fact(turn, REPLY_STREAM_START, model=turn.model or agent.model,
                   replaces=reply.replaces)
        chunks = _Chunks(lambda text, index: self._chunk(turn, text, index),
                         self._settings().chunk_interval_ms / 1000)
        used = Usage()
        repeats: dict[str, int] = {}
        try:
            if self._usage is not None:
                self._usage.check(agent.agent_id, turn.purpose)
            while True:
                done, calls, text = await self._stream_round(turn, request, chunks)
                used = Usage(used.input_tokens + done.usage.input_tokens,
                             used.output_tokens + done.usage.output_tokens)
                if not calls or self._tools is None:
                    break
                self._guard_round(turn, used, calls, repeats)
                if len(turn.steps) >= limits.max_react_turns:
                    self._fact(turn, MAX_TURNS_REACHED, max_react_turns=limits.max_react_turns,
                               unanswered_calls=len(calls))
                    break
                chunks.flush()
                results = await self._tools.run(calls, agent=limits, session_id=turn.session_id,
                                                agent_id=agent.agent_id, message_id=reply.id)
                step = {"text": text, "results": results,
                        "calls": [{"id": c.id, "name": c.name, "arguments": c.arguments}
                                  for c in calls]}
                turn.steps.append(step)
                request = dataclasses.replace(
                    request, messages=request.messages + tuple(step_messages([step])))
        except asyncio.CancelledError:
            chunks.flush()
            raise
        except Exception as exc:  # a provider failure ends the turn, never the worker
            chunks.flush()
            return await self._failed(turn, exc)
        chunks.flush()
        done = dataclasses.replace(done, usage=used)
        final = reply.with_changes(
            status="complete", content=turn.partial,
            model=done.model or turn.model or agent.model,
            tool_steps=turn.steps or None,
            input_tokens=done.usage.input_tokens, output_tokens=done.usage.output_tokens,
            updated_at=self._clock.now_ms())
        turn.settled, turn.result = True, final
        await self._repo.finish(final)
        self._fact(turn, REPLY_STREAM_DONE, finish_reason=done.finish_reason,
                   usage={"input_tokens": done.usage.input_tokens,
                          "output_tokens": done.usage.output_tokens}, model=final.model)
        self._fact(turn, REPLY_READY, reply=final.content, replaces=final.replaces)
        return final

    def use_memory(self, memory: MemoryTurns) -> None:
        """Wire memory in (the composition root builds it after chat)."""
        self._memory = memory

    def _guard_round(self, turn: Turn, used: Usage, calls: list[ToolCall],
                     repeats: dict[str, int]) -> None:
        """Before another tool round: the turn's token budget, and (for background work) the
        loop guard that stops a third identical call."""
        limit = self._usage.turn_limit(turn.agent.agent_id) if self._usage is not None else None
        spent = used.input_tokens + used.output_tokens
        if limit is not None and spent > limit:
            raise BudgetExceededError(
                f"the turn used {spent} tokens, over budgets.max_turn_tokens ({limit})",
                details={"spent": spent, "limit": limit})
        if turn.purpose == "chat":
            return
        for call in calls:
            signature = call.name + json.dumps(call.arguments, sort_keys=True, default=str)
            repeats[signature] = repeats.get(signature, 0) + 1
            if repeats[signature] >= _LOOP_REPEATS:
                raise LoopDetectedError(
                    f"the {turn.purpose} turn called {call.name} with the same arguments "
                    f"{_LOOP_REPEATS} times", details={"tool": call.name})

    async def _stream_round(self, turn: Turn, request: CompletionRequest,
                            chunks: _Chunks) -> tuple[Done, list[ToolCall], str]:
        """One model call: text streamed into the reply, and the tool calls it asked for."""
        reply, done, calls, text = turn.reply, None, [], []
        saved_at = asyncio.get_running_loop().time()
        context: dict[str, object] = {"session_id": turn.session_id,
                                      "agent_id": turn.agent.agent_id, "message_id": reply.id,
                                      "purpose": turn.purpose}
        stream = self._llm.stream(turn.agent.provider, request, context=context)
        async with contextlib.aclosing(stream):
            async for item in stream:
                if isinstance(item, Delta):
                    turn.text.append(item.text)
                    text.append(item.text)
                    chunks.add(item.text)
                    now = asyncio.get_running_loop().time()
                    if now - saved_at >= PARTIAL_SAVE_SEC:
                        saved_at = now
                        self._repo.save_partial(reply.id, turn.partial, self._clock.now_ms())
                elif isinstance(item, ToolCall):
                    calls.append(item)
                elif isinstance(item, Done):
                    done = item
        return done or Done(), calls, "".join(text)

    async def _failed(self, turn: Turn, exc: Exception) -> StoredMessage:
        if isinstance(exc, LLMError):
            error = {"code": exc.code, "message": exc.message, "hint": exc.hint,
                     "provider": exc.provider}
            log.warning("chat turn of session %s failed: %s", turn.session_id, exc)
        elif isinstance(exc, AmanError):  # a known cause, e.g. the agent's soul is unusable
            error = {"code": exc.code, "message": exc.message, "hint": exc.hint,
                     "provider": turn.agent.provider}
            log.warning("chat turn of session %s failed: %s", turn.session_id, exc)
        else:
            log.exception("chat turn of session %s failed unexpectedly", turn.session_id)
            error = {"code": "llm_error", "message": f"{type(exc).__name__}: {exc}",
                     "hint": LLMError.hint, "provider": turn.agent.provider}
        final = turn.reply.with_changes(status="error", content=turn.partial, error=error,
                                        tool_steps=turn.steps or None,
                                        updated_at=self._clock.now_ms())
        turn.settled, turn.result = True, final
        await self._repo.finish(final)
        self._fact(turn, LLM_ERROR, error=error["message"], code=error["code"],
                   hint=error["hint"], provider=error["provider"])
        return final

    async def _interrupted(self, turn: Turn) -> None:
        final = turn.reply.with_changes(
            status="interrupted", content=turn.partial, updated_at=self._clock.now_ms(),
            tool_steps=turn.steps or None,
            error={"code": "interrupted", "message": f"reply interrupted ({turn.stop_reason})",
                   "hint": "POST /chat/session/{id}/retry regenerates it."})
        turn.result = final
        try:
            await self._repo.finish(final)
        except AmanError:
            log.exception("could not store the interrupted reply %s", final.id)
        self._fact(turn, REPLY_INTERRUPTED, reason=turn.stop_reason,
                   partial_chars=len(final.content))

    def _fact(self, turn: Turn, event_type: str, **payload: Any) -> None:
        self._bus.emit(event_type, {"session_id": turn.session_id,
                                    "agent_id": turn.agent.agent_id,
                                    "message_id": turn.reply.id, **payload},
                       source=f"agent:{turn.agent.agent_id}")

    def _chunk(self, turn: Turn, text: str, index: int) -> None:
        self._bus.announce(Event.create(
            source=f"agent:{turn.agent.agent_id}", event_type=REPLY_CHUNK,
            delivery=Delivery.AT_MOST_ONCE, agent_id=turn.agent.agent_id,
            payload={"session_id": turn.session_id, "agent_id": turn.agent.agent_id,
                     "message_id": turn.reply.id, "delta": text, "index": index}))
