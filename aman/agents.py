"""AgentService: the configured agents, their status, reloading one from the config.

An agent is who a chat session talks to: a provider, a model, a soul and limits (``agents.<id>``
in the config). The service keeps one ``Agent`` per configured id with its live status:

- ``status`` (PascalCase, as desktop clients expect): Disabled | Preparing | Idle | Busy | Error.
  An agent is Preparing from construction until the boot step ``agents`` (phase 4) runs, then
  Idle (enabled) or Disabled. Preparing would mean "cold start until the first
  reflection"; aman has no reflection yet, so Preparing only covers boot (the HTTP routes answer
  503 until phase 5, so clients see it only on a stopped or failed runtime). Busy while at least
  one chat turn runs; Error when its soul is missing or an operator says so.
- ``system_state`` (snake_case): loaded (initial), ready, chatting, working, ...

With no ``agents`` section at all, one agent ``aman`` with every default is in force, so a new
user can chat with nothing configured; a configured section replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aman.clock import Clock
from aman.config.agents import AgentSettings
from aman.config.settings import Settings
from aman.errors import ConfigError, InvalidInputError, InvalidStateError, NotFoundError
from aman.events.ports import FactEmitter
from aman.events.types import EventTable
from aman.soul.locate import soul_candidates

log = logging.getLogger(__name__)

#: The agent a chat without ``agent_id`` talks to when it is configured (else the first one).
DEFAULT_AGENT_ID = "aman"
#: Statuses in the order clients list them.
STATUSES: tuple[str, ...] = ("Disabled", "Preparing", "Idle", "Busy", "Error")
#: system_state a status change implies; Error keeps whatever the agent was doing.
_SYSTEM_STATE_FOR = {"Disabled": "loaded", "Preparing": "loaded", "Idle": "ready",
                     "Busy": "working"}

AGENTS_SOURCE = "system:agents"
AGENT_REGISTERED = "agent:registered"
AGENT_REMOVED = "agent:removed"
AGENT_STATUS_CHANGED = "agent:status_changed"
AGENT_BUSY = "agent:busy"
AGENT_IDLE = "agent:idle"
#: Every type this module emits, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (AGENT_REGISTERED, "An agent was set up (boot) or reloaded from the config file."),
    (AGENT_REMOVED, "An agent left the configuration on reload."),
    (AGENT_STATUS_CHANGED, "An agent's status changed (Idle, Busy, Disabled, Error, ...)."),
    (AGENT_BUSY, "An agent started answering a session."),
    (AGENT_IDLE, "An agent finished answering and is free again."),
)


class AgentNotFoundError(NotFoundError):
    """No agent by that id."""

    code = "agent_not_found"
    hint = "GET /agents lists the configured agents; add one under agents.<id> in the config."


class AgentUnavailableError(InvalidInputError):
    """A chat named an agent that is unknown, disabled or in Error."""

    code = "agent_unavailable"
    hint = ("Pick one of the usable agents listed, or enable this one (agents.<id>.enabled: "
            "true, then POST /agent/{id}/reload).")


class InvalidAgentStatusError(InvalidInputError):
    """``POST /agent/{id}/status`` named a status that does not exist."""

    code = "invalid_agent_status"
    hint = f"Send one of: {', '.join(STATUSES)}."


def configured_agents(settings: Settings) -> dict[str, AgentSettings]:
    """``agents`` of ``settings``, or the implicit default agent when the section is empty."""
    if settings.agents:
        return dict(settings.agents)
    return {DEFAULT_AGENT_ID: AgentSettings(display_name="Aman")}


@dataclass(frozen=True)
class AgentDescriptor:
    """What an agent is, with defaults resolved (provider, model, soul): the wire ``descriptor``."""

    agent_id: str
    display_name: str
    provider: str | None
    model: str | None
    soul: str
    allowed_skills: tuple[str, ...] | None
    enabled: bool
    queue_max_size: int
    max_context_tokens: int
    max_output_tokens: int
    temperature: float

    @classmethod
    def build(cls, agent_id: str, config: AgentSettings, settings: Settings) -> AgentDescriptor:
        """Resolve ``config`` against ``settings``: default provider, its model, active soul."""
        provider = config.provider or settings.llm.default_provider or None
        provider_settings = settings.llm.providers.get(provider) if provider else None
        model = config.model or (provider_settings.model if provider_settings else "") or None
        return cls(
            agent_id=agent_id, display_name=config.display_name or agent_id, provider=provider,
            model=model, soul=config.soul or settings.souls.active,
            allowed_skills=tuple(config.skills) if config.skills is not None else None,
            enabled=config.enabled, queue_max_size=config.queue_max_size,
            max_context_tokens=config.max_context_tokens,
            max_output_tokens=config.max_output_tokens, temperature=config.temperature)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"agent_id": self.agent_id, "display_name": self.display_name,
                "provider": self.provider, "model": self.model, "soul": self.soul,
                "allowed_skills": (list(self.allowed_skills)
                                   if self.allowed_skills is not None else None),
                "enabled": self.enabled, "queue_max_size": self.queue_max_size,
                "max_context_tokens": self.max_context_tokens,
                "max_output_tokens": self.max_output_tokens, "temperature": self.temperature}


@dataclass
class Agent:
    """One agent in force: its descriptor and config, and its live status."""

    descriptor: AgentDescriptor
    settings: AgentSettings
    registered_at: int
    status: str = "Preparing"
    system_state: str = "loaded"
    activity: str = ""
    #: Sessions whose turn is running, oldest first; the last one is ``active_session_id``.
    sessions: list[str] = field(default_factory=list)

    @property
    def agent_id(self) -> str:
        """The id (key under ``agents``)."""
        return self.descriptor.agent_id

    @property
    def provider(self) -> str | None:
        """Effective provider name; None when no provider is configured at all."""
        return self.descriptor.provider

    @property
    def model(self) -> str | None:
        """Effective model; None lets the provider use its own."""
        return self.descriptor.model

    @property
    def soul(self) -> str:
        """Effective soul name."""
        return self.descriptor.soul

    @property
    def allowed_skills(self) -> tuple[str, ...] | None:
        """Skills it may use; None = all."""
        return self.descriptor.allowed_skills

    @property
    def enabled(self) -> bool:
        """``agents.<id>.enabled``."""
        return self.descriptor.enabled

    @property
    def active_session_id(self) -> str | None:
        """The session whose turn started last and is still running."""
        return self.sessions[-1] if self.sessions else None

    def unusable_because(self) -> str | None:
        """Why a chat may not use this agent now, or None when it may."""
        if not self.enabled:
            return "it is disabled in the config (enabled: false)"
        if self.status == "Disabled":
            return "its status is Disabled"
        if self.status == "Error":
            return f"its status is Error{': ' + self.activity if self.activity else ''}"
        return None

    def to_json(self) -> dict[str, Any]:
        """The wire shape clients read."""
        return {"descriptor": self.descriptor.to_json(), "status": self.status,
                "system_state": self.system_state, "active_session_id": self.active_session_id,
                "registered_at": self.registered_at, "activity": self.activity}


class AgentService:
    """The agents in force, their statuses, and per-agent reload."""

    def __init__(self, settings: Callable[[], Settings], bus: FactEmitter, clock: Clock) -> None:
        self._settings = settings
        self._bus = bus
        self._clock = clock
        now = clock.now_ms()
        current = settings()
        # Built without I/O so the composition root stays side-effect free; start() checks souls.
        self._agents: dict[str, Agent] = {
            agent_id: Agent(AgentDescriptor.build(agent_id, config, current), config, now)
            for agent_id, config in configured_agents(current).items()}

    # --- lifecycle (boot step "agents", phase 4) -------------------------------------------

    async def start(self) -> None:
        """Rebuild from settings, settle each agent's status and announce ``agent:registered``."""
        current = self._settings()
        now = self._clock.now_ms()
        self._agents = {}
        for agent_id, config in configured_agents(current).items():
            agent = Agent(AgentDescriptor.build(agent_id, config, current), config, now)
            self._agents[agent_id] = agent
            missing = self._missing_soul(agent.soul, current)
            if missing:
                log.error("agent %s: %s", agent_id, missing)
            self._settle(agent, error=missing)
            self._emit(AGENT_REGISTERED, agent, reloaded=False)

    async def stop(self) -> None:
        """Back to Preparing: nothing runs once the runtime stops."""
        for agent in self._agents.values():
            agent.sessions.clear()
            agent.status, agent.system_state, agent.activity = "Preparing", "loaded", ""

    # --- reading ---------------------------------------------------------------------------

    def get(self, agent_id: str) -> Agent:
        """The agent ``agent_id``; ``AgentNotFoundError`` listing the known ids if none."""
        agent = self._agents.get(agent_id)
        if agent is None:
            raise AgentNotFoundError(
                f"agent not found: {agent_id} (configured: {', '.join(self._agents) or 'none'})",
                details={"known": list(self._agents)})
        return agent

    def all(self) -> list[Agent]:
        """Every agent in force, in config order."""
        return list(self._agents.values())

    def default_id(self) -> str | None:
        """``aman`` if configured, else the first agent, else None."""
        if DEFAULT_AGENT_ID in self._agents:
            return DEFAULT_AGENT_ID
        return next(iter(self._agents), None)

    def for_chat(self, agent_id: str | None) -> Agent:
        """The agent a chat talks to (None: the default); ``AgentUnavailableError`` if it can't."""
        chosen = agent_id if agent_id is not None else self.default_id()
        agent = self._agents.get(chosen) if chosen is not None else None
        why = ("no agent is configured" if chosen is None else
               "it is not configured" if agent is None else agent.unusable_because())
        if why is None and agent is not None:
            return agent
        usable = [a.agent_id for a in self._agents.values() if a.unusable_because() is None]
        raise AgentUnavailableError(
            f"agent {chosen!r} cannot chat: {why}; usable agents: {', '.join(usable) or 'none'}",
            details={"agent_id": chosen, "usable": usable})

    def listing(self) -> list[dict[str, Any]]:
        """Every agent's wire shape, in config order."""
        return [agent.to_json() for agent in self._agents.values()]

    def snapshot(self, agent_id: str) -> dict[str, Any]:
        """One agent's wire shape."""
        return self.get(agent_id).to_json()

    # --- status ----------------------------------------------------------------------------

    def mark_busy(self, agent_id: str, session_id: str) -> None:
        """A chat turn of ``session_id`` started: Busy/chatting (unless Disabled, Error, ...)."""
        agent = self.get(agent_id)
        if session_id in agent.sessions:
            agent.sessions.remove(session_id)
        agent.sessions.append(session_id)
        previous = agent.status
        if previous in ("Preparing", "Idle", "Busy"):
            agent.status, agent.system_state = "Busy", "chatting"
        self._emit(AGENT_BUSY, agent, session_id=session_id, previous=previous)
        if agent.status != previous:
            self._emit(AGENT_STATUS_CHANGED, agent, session_id=session_id, previous=previous,
                       reason="turn_started")

    def mark_idle(self, agent_id: str, session_id: str) -> None:
        """A chat turn of ``session_id`` ended: Idle/ready once no other turn runs.

        Tolerates an agent removed by a reload meanwhile (called from a turn's cleanup).
        """
        agent = self._agents.get(agent_id)
        if agent is None:
            log.debug("mark_idle: agent %s is gone", agent_id)
            return
        if session_id in agent.sessions:
            agent.sessions.remove(session_id)
        previous = agent.status
        if previous == "Busy" and not agent.sessions:
            agent.status, agent.system_state = "Idle", "ready"
        self._emit(AGENT_IDLE, agent, session_id=session_id, previous=previous)
        if agent.status != previous:
            self._emit(AGENT_STATUS_CHANGED, agent, session_id=session_id, previous=previous,
                       reason="turn_ended")

    def set_status(self, agent_id: str, status: str) -> dict[str, Any]:
        """Set a status by hand (``POST /agent/{id}/status``); return the agent's wire shape."""
        agent = self.get(agent_id)
        canonical = next((s for s in STATUSES if s.lower() == status.strip().lower()), None)
        if canonical is None:
            raise InvalidAgentStatusError(
                f"unknown agent status {status!r}; allowed: {', '.join(STATUSES)}",
                details={"allowed": list(STATUSES)})
        if not agent.enabled and canonical != "Disabled":
            raise InvalidStateError(
                f"agent {agent_id} is disabled in the config, so its status stays Disabled",
                code="agent_disabled",
                hint=f"Set agents.{agent_id}.enabled: true in the config file, then "
                     f"POST /agent/{agent_id}/reload.")
        previous = agent.status
        agent.status = canonical
        agent.system_state = _SYSTEM_STATE_FOR.get(canonical, agent.system_state)
        agent.activity = ""
        if canonical != previous:
            self._emit(AGENT_STATUS_CHANGED, agent, session_id=agent.active_session_id,
                       previous=previous, reason="operator")
        return agent.to_json()

    # --- reload ----------------------------------------------------------------------------

    def reload(self, agent_id: str, settings: Settings) -> dict[str, Any]:
        """Put ``agents.<agent_id>`` of freshly read ``settings`` in force; no restart.

        Adds a new agent, replaces a changed one (its running turns go on; the next turn uses
        the new config) or removes one the file no longer has. A provider that the running
        daemon does not have or a soul that no folder holds is a ``ConfigError`` naming the key,
        and the old agent stays in force. Returns ``{ok, agent_id, added, removed, changed}``.
        """
        fresh = configured_agents(settings)
        old = self._agents.get(agent_id)
        if agent_id not in fresh:
            if old is None:
                raise AgentNotFoundError(
                    f"agent not found: {agent_id} (configured in the file: "
                    f"{', '.join(fresh) or 'none'}; running: {', '.join(self._agents) or 'none'})")
            del self._agents[agent_id]
            self._emit(AGENT_REMOVED, old, previous=old.status)
            return {"ok": True, "agent_id": agent_id, "added": False, "removed": True,
                    "changed": []}
        config = fresh[agent_id]
        running = self._settings()
        self._check(agent_id, config, running)
        # Providers and souls change only with a restart: resolve defaults as the daemon runs.
        descriptor = AgentDescriptor.build(agent_id, config, running)
        now = self._clock.now_ms()
        agent = Agent(descriptor, config, old.registered_at if old else now,
                      sessions=list(old.sessions) if old else [])
        if old is not None:
            agent.status, agent.system_state = old.status, old.system_state
        changed = sorted(k for k, v in config.model_dump().items()
                         if old is None or old.settings.model_dump().get(k) != v)
        self._agents[agent_id] = agent
        previous = old.status if old else None
        self._settle(agent, error=None)
        self._emit(AGENT_REGISTERED, agent, reloaded=old is not None, changed=changed)
        if old is not None and agent.status != previous:
            self._emit(AGENT_STATUS_CHANGED, agent, session_id=agent.active_session_id,
                       previous=previous, reason="reload")
        return {"ok": True, "agent_id": agent_id, "added": old is None, "removed": False,
                "changed": changed}

    # --- internals -------------------------------------------------------------------------

    def _check(self, agent_id: str, config: AgentSettings, running: Settings) -> None:
        hint = (f"Fix the named key in the config file and reload again; agent {agent_id} keeps "
                "running with the configuration it had.")
        if config.provider is not None and config.provider not in running.llm.providers:
            known = ", ".join(sorted(running.llm.providers)) or "none configured"
            raise ConfigError(
                f"agents.{agent_id}.provider = {config.provider!r}: not a provider of the running "
                f"daemon ({known}); llm.providers changes need a restart", hint=hint)
        missing = self._missing_soul(config.soul or running.souls.active, running)
        if missing:
            raise ConfigError(f"agents.{agent_id}.soul = {config.soul!r}: {missing}", hint=hint)

    @staticmethod
    def _missing_soul(soul: str, settings: Settings) -> str | None:
        """Why ``soul`` cannot be found in the soul folders, or None when one holds it."""
        tried = soul_candidates(soul, settings.souls_dirs)
        if any(path.is_file() for path in tried):
            return None
        return f"soul {soul!r} not found; looked for {', '.join(str(p) for p in tried)}"

    def _settle(self, agent: Agent, *, error: str | None) -> None:
        """Status from config after start or reload: Disabled, Error, Busy or Idle."""
        if not agent.enabled:
            agent.status, agent.system_state, agent.activity = "Disabled", "loaded", ""
        elif error:
            agent.status, agent.activity = "Error", error
        elif agent.sessions:
            agent.status, agent.system_state, agent.activity = "Busy", "chatting", ""
        else:
            agent.status, agent.system_state, agent.activity = "Idle", "ready", ""

    def _emit(self, event_type: str, agent: Agent, **extra: Any) -> None:
        payload: dict[str, Any] = {"agent_id": agent.agent_id, "status": agent.status,
                                   "system_state": agent.system_state}
        if event_type == AGENT_REGISTERED:
            payload["descriptor"] = agent.descriptor.to_json()
        payload.update(extra)
        self._bus.emit(event_type, payload, source=AGENTS_SOURCE)
