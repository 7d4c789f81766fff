"""IdleRunService: start an idle run in a chat session, and say which idle runs are available.

``POST /idle-run`` and the idle scheduler take this one path:
pick an idle skill of the tag, compose its message, choose the session (a stable one for a work
item, else a new one), send the message as ``idle`` and answer at once while the reply runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aman.errors import InvalidInputError, NotFoundError
from aman.events.ports import FactEmitter
from aman.idle import events as e
from aman.idle.skills import (
    REPORTED_TAGS,
    WORK_TAG,
    IdleSkill,
    SkillCatalog,
    compose,
    find_work,
    idle_skills,
    open_work,
    pick_prompt,
    tags_of,
)

if TYPE_CHECKING:
    from aman.agents import Agent, AgentService
    from aman.chat.model import StoredMessage
    from aman.chat.sessions import ChatService
    from aman.config.reach import IdleSettings, WorkItem

log = logging.getLogger(__name__)


class MissingTagError(InvalidInputError):
    """``POST /idle-run`` without a tag."""

    code = "missing_tag"
    hint = ('Send the kind of idle run to start, e.g. {"tag": "study"}; '
            "GET /agents/idle-availability shows which kinds are available.")


class NoIdleSkillError(NotFoundError):
    """No enabled skill is tagged ``idle_run`` plus the tag asked for."""

    code = "no_idle_skill"
    hint = ("Pick one of the listed tags, or add a skill tagged [idle_run, <tag>] "
            "(skills/idle/ holds examples) and POST /skills/reload.")


class IncompleteWorkKeyError(InvalidInputError):
    """Only one of ``project_key`` and ``work_id`` was given."""

    code = "incomplete_work_key"
    hint = "Send both project_key and work_id (a resumable work session), or neither."


@dataclass(frozen=True)
class IdleRun:
    """A started idle run."""

    session_id: str
    skill_name: str
    tag: str
    background: bool
    agent_id: str
    session_type: str
    message_id: str
    project_key: str | None = None
    work_id: str | None = None
    #: Resolves when the run's reply is over (complete, failed or stopped).
    reply: asyncio.Future[Any] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The ``POST /idle-run`` answer."""
        return {"session_id": self.session_id, "skill_name": self.skill_name, "tag": self.tag,
                "background": self.background}

    def facts(self) -> dict[str, Any]:
        """The ``idle:run_started`` payload."""
        return {"session_id": self.session_id, "agent_id": self.agent_id,
                "skill_name": self.skill_name, "tag": self.tag,
                "session_type": self.session_type, "background": self.background,
                "message_id": self.message_id, "project_key": self.project_key,
                "work_id": self.work_id}


def work_session_id(agent_id: str, project_key: str, work_id: str) -> str:
    """The stable id of the session an agent works on one item in, so work resumes there."""
    return f"work:{agent_id}:{project_key}:{work_id}"


class IdleRunService:
    """Starts idle runs and reports idle availability per agent."""

    def __init__(self, *, skills: SkillCatalog, agents: AgentService, chat: ChatService,
                 bus: FactEmitter, settings: Callable[[], IdleSettings],
                 rng: random.Random | None = None,
                 budget: Callable[[str, str], None] | None = None) -> None:
        self._skills = skills
        self._budget = budget  # raises BudgetExhaustedError when the agent's budget is spent
        self._agents = agents
        self._chat = chat
        self._bus = bus
        self._settings = settings
        self._rng = rng or random.Random()  # noqa: S311 - picks a skill, not a secret

    # --- availability ----------------------------------------------------------------------

    def availability(self) -> dict[str, dict[str, bool]]:
        """``{agent_id: {work, study, fun}}`` for every configured agent."""
        found = idle_skills(self._skills)
        result = {}
        for agent in self._agents.all():
            tags = self._tags(agent, found)
            result[agent.agent_id] = {tag: tag in tags for tag in REPORTED_TAGS}
        return result

    def tags_for(self, agent_key: str | None) -> set[str]:
        """Tags an idle run of that agent (None: idle.agent_id, then the default) could use now."""
        return self._tags(self._agent(agent_key), idle_skills(self._skills))

    def _tags(self, agent: Agent, found: list[IdleSkill]) -> set[str]:
        allowed = agent.allowed_skills
        tags = set(tags_of(s for s in found if allowed is None or s.name in allowed))
        if WORK_TAG in tags and not open_work(self._settings().work_queue, agent.agent_id):
            tags.discard(WORK_TAG)  # work needs something to work on
        return tags

    def _agent(self, agent_key: str | None) -> Agent:
        return self._agents.for_chat(agent_key or self._settings().agent_id)

    # --- running ---------------------------------------------------------------------------

    async def run(self, *, tag: str | None, agent_key: str | None = None,
                  background: bool = False, project_key: str | None = None,
                  work_id: str | None = None, trigger: str = "manual") -> IdleRun:
        """Start a run of an idle skill tagged ``tag``; returns once its message is stored.

        Missing tag: ``MissingTagError``; unusable agent: ``AgentUnavailableError``; no skill:
        ``NoIdleSkillError`` listing the tags there are. A ``work`` run without a work key takes
        the agent's first open work item, so it resumes that item's session.
        """
        tag = (tag or "").strip().lower()
        if not tag:
            raise MissingTagError("missing 'tag' field: say which kind of idle run to start")
        if bool(project_key) != bool(work_id):
            raise IncompleteWorkKeyError(
                f"project_key {project_key!r} and work_id {work_id!r}: give both or neither")
        agent = self._agent(agent_key)
        if self._budget is not None:
            self._budget(agent.agent_id, "idle")
        found = idle_skills(self._skills, allowed=agent.allowed_skills)
        candidates = [s for s in found if tag in s.tags]
        if not candidates:
            available = tags_of(found)
            raise NoIdleSkillError(
                f"no idle skill for tag {tag!r}; tags with idle skills: "
                f"{', '.join(available) or 'none'}", details={"tag": tag, "available": available})
        queue = self._settings().work_queue
        work: WorkItem | None = None
        if project_key and work_id:
            work = find_work(queue, project_key, work_id)
        elif tag == WORK_TAG:
            work = next(iter(open_work(queue, agent.agent_id)), None)
            if work is not None:
                project_key, work_id = work.project, work.id
        skill = self._rng.choice(candidates)
        text = compose(skill, pick_prompt(skill, self._rng), agent_id=agent.agent_id, work=work,
                       project_key=project_key, work_id=work_id)
        session_id, session_type = await self._session(agent, skill, tag, background,
                                                       project_key, work_id, work)
        receipt = await self._chat.send(session_id, text, expected_version=None,
                                        operator=e.IDLE_OPERATOR)
        run = IdleRun(session_id, skill.name, tag, background, agent.agent_id, session_type,
                      receipt.message_id, project_key, work_id, reply=receipt.reply)
        source = e.SCHEDULER_SOURCE if trigger == "scheduler" else e.MANUAL_SOURCE
        self._bus.emit(e.RUN_STARTED, {**run.facts(), "trigger": trigger}, source=source)
        receipt.reply.add_done_callback(lambda done: self._finished(run, source, done))
        log.info("idle run %s (%s) started in session %s", skill.name, tag, session_id)
        return run

    async def _session(self, agent: Agent, skill: IdleSkill, tag: str, background: bool,
                       project_key: str | None, work_id: str | None,
                       work: WorkItem | None) -> tuple[str, str]:
        """(session id, type): the work item's stable session, else a new one."""
        if project_key and work_id:
            # Persistent even for background runs: a background session closes on its own,
            # and a work session must stay open to be resumed next time.
            title = f"Work {project_key}/{work_id}" + (f": {work.title}" if work else "")
            session = await self._chat.create(
                agent_id=agent.agent_id, session_type="persistent", title=title[:200],
                operator=e.IDLE_OPERATOR, purpose="idle",
                session_id=work_session_id(agent.agent_id, project_key, work_id))
            return str(session["id"]), str(session.get("session_type", "persistent"))
        session_type = "background" if background else "persistent"
        session = await self._chat.create(agent_id=agent.agent_id, session_type=session_type,
                                          title=f"Idle {tag}: {skill.name}"[:200],
                                          operator=e.IDLE_OPERATOR, purpose="idle")
        return str(session["id"]), session_type

    def _finished(self, run: IdleRun, source: str,
                  done: asyncio.Future[StoredMessage | None]) -> None:
        """Announce how the run's reply ended (``idle:run_finished``)."""
        status = "cancelled"
        reply_id = None
        if not done.cancelled():
            error = done.exception()
            reply = None if error is not None else done.result()
            status = "failed" if error is not None else reply.status if reply else "stopped"
            reply_id = reply.id if reply is not None else None
        self._bus.emit(e.RUN_FINISHED, {"session_id": run.session_id, "agent_id": run.agent_id,
                                        "skill_name": run.skill_name, "tag": run.tag,
                                        "status": status, "reply_id": reply_id}, source=source)
