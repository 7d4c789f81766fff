"""Per-session queues and workers: a session's replies are generated one at a time, in order.

Each session with work gets a ``SessionState`` (a lock for commands, the queue of replies to
generate, the worker task and the running turn). The worker moves the session's workflow
instance around each turn (``message_received``/``retry_started`` in, ``llm_reply_ready``,
``llm_error`` or ``stop_generation`` out). A state is dropped as soon as its worker ends and no
command holds it, so an idle session keeps nothing in memory (a persistent session's
``timeout`` state therefore has nothing left to release).

With several daemons on one store, a state also holds the session across daemons (``holds``,
a database lock) from its first command until it is dropped: another daemon's command for the
session waits until this daemon's queue has run out, then reads the seqs this one stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.core import Metric

from aman.chat import definition as d
from aman.chat.model import ChatRepository, ChatSession, NoHolds, SessionHolds, StoredMessage
from aman.chat.turn import Turn, TurnRunner
from aman.clock import Clock
from aman.core.lifecycle import TaskTracker
from aman.ids import uuid7
from aman.metrics import gauge

if TYPE_CHECKING:
    from aman.agents import Agent
    from aman.workflows.engine import WorkflowService

log = logging.getLogger(__name__)

#: How long a stop, close or shutdown waits for the running turn to store its partial reply.
STOP_WAIT_SEC = 2.0


@dataclass
class Job:
    """One reply to generate: its reserved seq (right after the message it answers), what it
    regenerates, and the futures a ``wait: true`` sender awaits."""

    agent: Agent
    reply_seq: int
    start_event: str = d.MESSAGE_RECEIVED
    replaces: str | None = None
    done: asyncio.Future[StoredMessage | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    cancelled: str | None = None  # why, once stopped before or while it ran

    def resolve(self, message: StoredMessage | None) -> None:
        """Hand the finished reply (None: never generated) to whoever waits."""
        if not self.done.done():
            self.done.set_result(message)


@dataclass
class SessionState:
    """What a session with work holds in memory."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queue: deque[Job] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None
    job: Job | None = None
    turn: Turn | None = None
    turn_task: asyncio.Task[StoredMessage] | None = None
    next_seq: int | None = None
    #: Set when the current job is over (its transitions made): stop waits for it.
    job_over: asyncio.Event = field(default_factory=asyncio.Event)
    #: Commands inside or waiting for ``lock`` (the state is kept while any is).
    users: int = 0
    #: Whether this state holds the session across daemons.
    held: bool = False

    @property
    def busy(self) -> bool:
        """A reply is running or waiting."""
        return self.job is not None or bool(self.queue)


class SessionWorkers:
    """The in-memory side of chat: states, queues, workers and cancellation."""

    def __init__(self, *, runner: TurnRunner, workflows: WorkflowService,
                 repo: ChatRepository, tasks: TaskTracker, clock: Clock,
                 holds: SessionHolds | None = None) -> None:
        self._runner = runner
        self._holds = holds or NoHolds()
        self._workflows = workflows
        self._repo = repo
        self._tasks = tasks
        self._clock = clock
        self._states: dict[str, SessionState] = {}
        self._closing = False
        #: Sessions whose turns use another model than their agent's (a heartbeat's ``model``).
        self.models: dict[str, str] = {}

    # --- states --------------------------------------------------------------------------

    @asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[SessionState]:
        """Hold the session's command lock (send, edit, retry, close, delete run one at a time)."""
        state = self._states.setdefault(session_id, SessionState())
        state.users += 1
        try:
            async with state.lock:
                if not state.held:  # another daemon's work on the session finishes first
                    await self._holds.acquire(hold_name(session_id))
                    state.held = True
                if state.next_seq is None:
                    state.next_seq = await self._repo.last_seq(session_id) + 1
                yield state
        finally:
            state.users -= 1
            await self._release(session_id, state)

    def peek(self, session_id: str) -> SessionState | None:
        """The session's state if it holds any (no lock)."""
        return self._states.get(session_id)

    async def _release(self, session_id: str, state: SessionState) -> None:
        """Drop an idle state (no worker, no work, no command) and its hold."""
        if state.worker is not None or state.busy or state.users:
            return
        if self._states.get(session_id) is state:
            del self._states[session_id]
        if state.held:
            state.held = False
            await self._holds.release(hold_name(session_id))

    def agent_busy(self, agent_id: str) -> bool:
        """Whether any session has a reply of ``agent_id`` running or waiting."""
        return any(
            (s.job is not None and s.job.agent.agent_id == agent_id)
            or any(job.agent.agent_id == agent_id for job in s.queue)
            for s in self._states.values())

    @property
    def active(self) -> int:
        """Sessions generating or with replies waiting."""
        return sum(1 for s in self._states.values() if s.busy)

    def families(self) -> Iterable[Metric]:
        """Prometheus families, computed at scrape time."""
        yield gauge("aman_chat_active_sessions",
                    "Chat sessions generating a reply or with replies waiting.", self.active)
        yield gauge("aman_chat_queued_replies", "Replies waiting behind a running one.",
                    sum(len(s.queue) for s in self._states.values()))

    # --- queueing ------------------------------------------------------------------------

    def enqueue(self, session: ChatSession, state: SessionState, job: Job) -> None:
        """Queue ``job`` and make sure the session's worker runs (call under the lock)."""
        state.queue.append(job)
        if state.worker is None:
            state.worker = self._tasks.spawn(f"chat-session:{session.id}",
                                             self._work(session, state))

    async def _work(self, session: ChatSession, state: SessionState) -> None:
        try:
            while state.queue and not self._closing:
                job = state.queue.popleft()
                state.job = job
                state.job_over.clear()
                try:
                    await self._run(session, state, job)
                except Exception:
                    log.exception("chat session %s: a reply failed to run", session.id)
                finally:
                    job.resolve(None)
                    state.job, state.turn, state.turn_task = None, None, None
                    state.job_over.set()
        finally:
            for job in state.queue:
                job.resolve(None)
            state.worker = None
            await self._release(session.id, state)

    async def _run(self, session: ChatSession, state: SessionState, job: Job) -> None:
        started = await self._workflows.send(session.instance_id, job.start_event,
                                             {"session_id": session.id})
        if started.refusal is not None:
            if started.instance.state == d.CLOSED:
                log.info("chat session %s is closed; reply not started", session.id)
                return
            # A state that missed a move (a timer, a stale state) must not lose the reply.
            log.info("chat session %s: reply starts from %s (%s)", session.id,
                     started.instance.state, started.refusal.message)
        history = [m for m in await self._repo.messages(session.id) if m.seq < job.reply_seq]
        if job.cancelled:  # stopped while starting; no await from here to the turn's task
            await self._after_cancel(session, job.cancelled)
            return
        now = self._clock.now_ms()
        reply = StoredMessage(id=uuid7(), session_id=session.id, seq=job.reply_seq,
                              role="assistant", content="", status="streaming", created_at=now,
                              updated_at=now, replaces=job.replaces, model=job.agent.model)
        turn = Turn(session.id, job.agent, history, reply, purpose=session.purpose,
                    model=self.models.get(session.id))
        task: asyncio.Task[StoredMessage] = self._tasks.spawn(
            f"chat-turn:{session.id}", self._runner.run(turn))
        state.turn, state.turn_task = turn, task
        await asyncio.wait({task})
        if task.cancelled():
            job.resolve(turn.result)
            await self._after_cancel(session, turn.stop_reason)
            return
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        final = task.result()
        job.resolve(final)
        event = d.LLM_REPLY_READY if final.status == "complete" else d.LLM_ERROR
        await self._workflows.send(session.instance_id, event,
                                   {"session_id": session.id, "message_id": final.id})

    async def _after_cancel(self, session: ChatSession, reason: str) -> None:
        # A stop returns to idle; a shutdown leaves the session in error, as a crash does, so
        # retry regenerates the reply; close and delete move the session themselves.
        if reason == "stopped":
            await self._workflows.send(session.instance_id, d.STOP_GENERATION,
                                       {"session_id": session.id})
        elif reason == "shutdown":
            await self._workflows.send(session.instance_id, d.LLM_ERROR,
                                       {"session_id": session.id, "reason": "shutdown"})

    # --- cancelling ----------------------------------------------------------------------

    async def cancel(self, state: SessionState, reason: str) -> tuple[bool, int]:
        """Stop the running reply and drop the waiting ones (their messages stay stored);
        return (whether a reply was running, how many waiting ones were dropped)."""
        dropped = len(state.queue)
        for waiting in state.queue:
            waiting.cancelled = reason
            waiting.resolve(None)
        state.queue.clear()
        job = state.job
        if job is None:
            return False, dropped
        job.cancelled = reason
        if state.turn is not None:
            state.turn.stop_reason = reason
        if state.turn_task is not None:
            state.turn_task.cancel()
        try:
            await asyncio.wait_for(state.job_over.wait(), STOP_WAIT_SEC)
        except TimeoutError:
            log.warning("chat reply of %s did not stop within %.1fs", job.reply_seq,
                        STOP_WAIT_SEC)
        return True, dropped

    async def shutdown(self) -> None:
        """Stop every reply (partials stored as interrupted, sessions left in error)."""
        self._closing = True
        states = list(self._states.values())
        await asyncio.gather(*(self.cancel(s, "shutdown") for s in states),
                             return_exceptions=True)
        workers = [s.worker for s in states if s.worker is not None]
        if workers:
            _, pending = await asyncio.wait(workers, timeout=STOP_WAIT_SEC)
            for task in pending:
                task.cancel()

    def reopen(self) -> None:
        """Accept work again (a runtime restarted in the same process)."""
        self._closing = False


def hold_name(session_id: str) -> str:
    """What a session is held under across daemons."""
    return f"chat-session:{session_id}"


def take_seq(state: SessionState, count: int = 1) -> int:
    """Reserve ``count`` seqs of the session (call under its lock); return the first."""
    assert state.next_seq is not None
    first = state.next_seq
    state.next_seq += count
    return first

