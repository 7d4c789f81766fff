"""HeartbeatService: each agent with ``heartbeat.every`` checks in on its own, cheaply.

A tick reads the agent's checklist (``HEARTBEAT.md`` in the tools workspace) and is skipped,
with the reason recorded and no model call, when the file is empty, outside active hours, while a
turn of the agent runs or waits (``busy``; the next tick tries again, and missed ticks coalesce
into that one), or when the agent's budget is spent. Otherwise a turn runs in the agent's own
``heartbeat:<agent>`` session, which keeps only its last few exchanges. An answer that is
``HEARTBEAT_OK`` or short is not delivered; a longer one goes to the target through the durable
IM outbound path. Every tick is stored and announced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from aman.channels.model import ConversationRepository, ReplyTarget
from aman.clock import Clock
from aman.config.agents import AgentSettings
from aman.config.heartbeat import ChannelTarget
from aman.errors import AmanError, ConflictError, NotFoundError
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.heartbeat import rules
from aman.heartbeat.model import (
    HEARTBEAT_ALERTED,
    HEARTBEAT_FAILED,
    HEARTBEAT_OK_EVENT,
    HEARTBEAT_SKIPPED,
    HEARTBEAT_WAKE,
    HeartbeatRepository,
    HeartbeatRun,
)
from aman.ids import uuid7

if TYPE_CHECKING:
    from aman.channels.outbox import ChannelOutbox
    from aman.chat.sessions import ChatService
    from aman.core.lifecycle import TaskTracker
    from aman.events.bus import EventBus
    from aman.usage.service import UsageService

log = logging.getLogger(__name__)

OPERATOR = "heartbeat"
SUBSCRIBER = "heartbeat"
DEFAULT_PROMPT = (
    "This is your heartbeat: check the list below and act on anything that needs attention now. "
    f"If nothing does, answer exactly {rules.OK_TOKEN}. Do not repeat earlier findings.")
#: Longest a heartbeat turn may take before the tick is recorded as failed.
_TURN_TIMEOUT_SEC = 600.0
_EVENTS = {"ok": HEARTBEAT_OK_EVENT, "alerted": HEARTBEAT_ALERTED, "failed": HEARTBEAT_FAILED,
           "skipped": HEARTBEAT_SKIPPED}


def session_id_of(agent_id: str) -> str:
    """The heartbeat session of an agent: one per agent, stable across restarts."""
    return f"heartbeat:{agent_id}"


class HeartbeatService:
    """A ticker per agent with a heartbeat, plus wake-ups from the API and cron."""

    def __init__(self, *, repo: HeartbeatRepository, chat: ChatService,
                 usage: UsageService, outbox: ChannelOutbox,
                 conversations: ConversationRepository, bus: EventBus, clock: Clock,
                 tasks: TaskTracker, agents: Callable[[], dict[str, AgentSettings]],
                 workspace: Callable[[], Path]) -> None:
        self._repo = repo
        self._chat = chat
        self._usage = usage
        self._outbox = outbox
        self._conversations = conversations
        self._bus = bus
        self._clock = clock
        self._tasks = tasks
        self._agents = agents
        self._workspace = workspace
        self._tickers: dict[str, asyncio.Task[None]] = {}
        self._running: set[str] = set()
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for wake events (on every daemon, so a wake accepted anywhere is handled)."""
        self._unsubscribe = self._bus.subscribe(
            SUBSCRIBER, self._on_wake, EventFilter(event_types=frozenset({HEARTBEAT_WAKE})))

    async def start_tickers(self) -> None:
        """Start a ticker for every agent whose heartbeat is on (on one daemon: the leader)."""
        for agent_id, settings in self._agents().items():
            if settings.enabled and settings.heartbeat.every_sec and agent_id not in self._tickers:
                self._tickers[agent_id] = self._tasks.spawn(f"heartbeat:{agent_id}",
                                                            self._tick_forever(agent_id))

    async def stop_tickers(self) -> None:
        """Stop the tickers (a tick in flight is cancelled; its turn is interrupted)."""
        tickers, self._tickers = list(self._tickers.values()), {}
        for task in tickers:
            task.cancel()
        await asyncio.gather(*tickers, return_exceptions=True)

    async def stop(self) -> None:
        """Stop listening and stop the tickers."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.stop_tickers()

    def state(self, agent_id: str) -> dict[str, object]:
        """What ``GET /agent/{id}`` shows: whether the heartbeat is on, and how often."""
        settings = self._settings(agent_id)
        every = settings.heartbeat.every_sec
        return {"enabled": bool(every) and settings.enabled, "every_sec": every,
                "running": agent_id in self._tickers,
                "target": (settings.heartbeat.target if isinstance(settings.heartbeat.target, str)
                           else settings.heartbeat.target.model_dump())}

    # --- ticks -----------------------------------------------------------------------------

    def wake(self, agent_id: str) -> None:
        """Tick now, in the background (a tick already running absorbs this one)."""
        settings = self._settings(agent_id)
        if not settings.heartbeat.every_sec:
            raise ConflictError(f"agent {agent_id} has no heartbeat", code="heartbeat_off",
                                hint=f"Set agents.{agent_id}.heartbeat.every (e.g. 30m).")
        self._tasks.spawn(f"heartbeat:wake:{agent_id}", self.tick(agent_id, trigger="wake"))

    async def runs(self, agent_id: str, limit: int) -> list[HeartbeatRun]:
        """The agent's latest ticks, newest first."""
        self._settings(agent_id)
        return await self._repo.recent(agent_id, limit)

    async def tick(self, agent_id: str, *, trigger: str = "schedule") -> HeartbeatRun | None:
        """One tick: skip with a reason, or run a turn and deliver an alert; stored either way."""
        if agent_id in self._running:
            return None  # the running tick covers this one
        self._running.add(agent_id)
        try:
            run = await self._tick(agent_id, trigger)
        finally:
            self._running.discard(agent_id)
        await self._repo.add(run)
        self._bus.emit(_EVENTS[run.outcome], run.to_json(), source=f"heartbeat:{agent_id}")
        log.info("heartbeat of %s: %s%s", agent_id, run.outcome,
                 f" ({run.reason})" if run.reason else "")
        return run

    async def _tick(self, agent_id: str, trigger: str) -> HeartbeatRun:
        settings = self._settings(agent_id).heartbeat
        base = HeartbeatRun(id=uuid7(), agent_id=agent_id, ts_ms=self._clock.now_ms(),
                            trigger=trigger, outcome="skipped")
        path = self._workspace() / settings.file
        try:
            checklist = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
            checklist = ""
        reason = None
        if rules.checklist_is_empty(checklist):
            reason = "empty_file"
        elif not rules.in_active_hours(settings.active_hours, self._clock.now_ms()):
            reason = "outside_active_hours"
        elif self._chat.agent_busy(agent_id):
            reason = "busy"
        else:
            try:
                self._usage.check(agent_id, "heartbeat")
            except AmanError:
                reason = "budget_exhausted"
        if reason is not None:
            return replace(base, reason=reason)
        session_id = session_id_of(agent_id)
        prompt = f"{settings.prompt or DEFAULT_PROMPT}\n\n<<<{settings.file}>>>\n{checklist}"
        try:
            await self._chat.create(agent_id=agent_id, session_type="persistent",
                                    title="Heartbeat", operator=OPERATOR, session_id=session_id,
                                    purpose="heartbeat")
            self._chat.use_model(session_id, settings.model)
            receipt = await self._chat.send(session_id, prompt, expected_version=None,
                                            operator=OPERATOR)
            reply = await asyncio.wait_for(asyncio.shield(receipt.reply), _TURN_TIMEOUT_SEC)
        except (AmanError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, AmanError) else "timeout"
            return replace(base, outcome="failed", reason=code, session_id=session_id,
                           text=str(exc) or "the heartbeat turn did not finish in time")
        finally:
            await self._chat.prune(session_id, keep_messages=2 * settings.keep_exchanges)
        base = replace(base, session_id=session_id)
        if reply is None:
            return replace(base, outcome="failed", reason="no_reply",
                           text="the turn ended without a reply")
        base = replace(base, input_tokens=reply.input_tokens or 0,
                       output_tokens=reply.output_tokens or 0)
        if reply.status != "complete":
            error = reply.error or {}
            return replace(base, outcome="failed", reason=str(error.get("code") or reply.status),
                           text=str(error.get("message") or f"the reply is {reply.status}"))
        if not rules.is_alert(reply.content):
            return replace(base, outcome="ok")
        text = rules.strip_ok(reply.content)
        delivered = await self._deliver(agent_id, settings.target, text, base.id, session_id)
        return replace(base, outcome="alerted", delivered_to=delivered, text=text)

    async def _deliver(self, agent_id: str, target: str | ChannelTarget, text: str,
                       run_id: str, session_id: str) -> str | None:
        """Queue the alert on the durable outbound path; where it went (None: nowhere)."""
        if target == "none":
            return None
        if isinstance(target, ChannelTarget):
            platform, instance = target.channel.split(".", 1)
            where: ReplyTarget | None = ReplyTarget(platform=platform, instance=instance,
                                                    chat_id=target.chat, thread_id=target.thread)
        else:
            where = await self._conversations.last_target_of_agent(agent_id)
        if where is None:
            log.warning("heartbeat alert of %s has no chat to go to (target %s)", agent_id, target)
            return None
        await self._outbox.enqueue(where, text, delivery_key=f"heartbeat:{run_id}",
                                   kind="heartbeat", session_id=session_id)
        return f"{where.platform}:{where.instance}:{where.chat_id}"

    async def _tick_forever(self, agent_id: str) -> None:
        every = self._settings(agent_id).heartbeat.every_sec
        while True:
            await self._clock.sleep(every)
            try:
                await self.tick(agent_id)
            except Exception:  # one bad tick never ends the heartbeat
                log.exception("heartbeat tick of %s failed", agent_id)

    async def _on_wake(self, event: Event) -> None:
        agent_id = str(event.payload.get("agent_id") or "")
        if agent_id in self._agents() and self._settings(agent_id).heartbeat.every_sec:
            await self.tick(agent_id, trigger="wake")
        else:
            log.warning("heartbeat wake for %r ignored: no such agent with a heartbeat", agent_id)

    def _settings(self, agent_id: str) -> AgentSettings:
        found = self._agents().get(agent_id)
        if found is None:
            raise NotFoundError(f"no agent {agent_id!r}", code="agent_not_found",
                                hint="GET /agents lists the agents.")
        return found
