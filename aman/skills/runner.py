"""Event skills on the bus: one subscriber ``skill:<name>`` per enabled, valid event skill.

A run executes the skill's actions in order under its concurrency slot. Failures are raised so
the bus retries and finally parks the delivery in the DLQ; every run is recorded on the
trigger's trace as ``skill:completed`` or ``skill:failed`` and announced as an event of that
type. A skill never fires on events it emitted itself (no self-loops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aman.errors import UnavailableError
from aman.events.bus import EventBus
from aman.events.model import Event
from aman.events.types import EventTable, EventTypeRegistry
from aman.skills.model import ActionSpec, EventSkillSpec, Skill
from aman.skills.template import context_of, render

log = logging.getLogger(__name__)

SKILL_COMPLETED = "skill:completed"
SKILL_FAILED = "skill:failed"
#: Every type the runner itself emits, declared at boot (``aman.core.event_types``); a skill's
#: own ``emit`` types are registered while it is loaded.
EVENT_TYPES: EventTable = (
    (SKILL_COMPLETED, "An event skill ran to the end; payload names the skill and the trigger."),
    (SKILL_FAILED, "An event skill failed; payload has the error."),
)


class StepRecorder(Protocol):
    """The part of the event log a run writes to."""

    def record_step(self, event: Event, step: str, *, handler: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Add a trace step."""
        ...


class ActionUnavailableError(UnavailableError):
    """An action kind whose engine does not exist yet."""

    code = "skill_action_unavailable"


def subscriber_name(skill_name: str) -> str:
    """The bus subscriber of a skill."""
    return f"skill:{skill_name}"


def _slot(spec: EventSkillSpec) -> contextlib.AbstractAsyncContextManager[Any]:
    if spec.concurrency == "serial":
        return asyncio.Lock()
    if spec.concurrency == "parallel":
        return contextlib.nullcontext()
    return asyncio.Semaphore(spec.concurrency.limited)


class EventSkillRunner:
    """Keeps bus subscriptions in step with the loaded event skills."""

    def __init__(self, bus: EventBus, steps: StepRecorder, types: EventTypeRegistry) -> None:
        self._bus = bus
        self._steps = steps
        self._types = types
        #: Starts a workflow instance for a ``workflow`` action and returns its id; wired by the
        #: composition root once the workflow engine exists.
        self.start_workflow: Callable[[str, dict[str, Any], Event], Awaitable[str]] | None = None
        #: name -> (content hash, unsubscribe)
        self._active: dict[str, tuple[str, Callable[[], None]]] = {}

    @property
    def active(self) -> list[str]:
        """Names of subscribed skills."""
        return sorted(self._active)

    def sync(self, wanted: dict[str, Skill]) -> None:
        """Subscribe exactly the skills in ``wanted`` (valid, enabled event skills)."""
        for name in list(self._active):
            current = wanted.get(name)
            if current is None or current.content_hash != self._active[name][0]:
                self._drop(name)
        for name, skill in wanted.items():
            if name not in self._active and skill.event_spec is not None:
                self._add(skill)

    def clear(self) -> None:
        """Unsubscribe every skill."""
        for name in list(self._active):
            self._drop(name)

    def _drop(self, name: str) -> None:
        _, unsubscribe = self._active.pop(name)
        unsubscribe()
        self._types.unregister_owner(subscriber_name(name))

    def _add(self, skill: Skill) -> None:
        spec = skill.event_spec
        assert spec is not None
        owner = subscriber_name(skill.name)
        for event_type in spec.emitted_types():
            self._types.register(event_type, owner=owner)
        handler = self._handler(skill, spec, _slot(spec))
        unsubscribe = self._bus.subscribe(owner, handler, spec.coarse_filter())
        self._active[skill.name] = (skill.content_hash, unsubscribe)

    def _handler(self, skill: Skill, spec: EventSkillSpec,
                 slot: contextlib.AbstractAsyncContextManager[Any]) -> Callable[[Event], Any]:
        owner = subscriber_name(skill.name)

        async def handle(event: Event) -> None:
            if event.source == owner or not spec.matches(event):
                return
            async with slot:
                await self.run(skill, spec, event)

        return handle

    async def run(self, skill: Skill, spec: EventSkillSpec, event: Event) -> None:
        """Run the actions once for ``event``; record and announce the outcome; re-raise."""
        owner = subscriber_name(skill.name)
        base: dict[str, Any] = {"skill": skill.name, "version": skill.version, "event_id": event.id,
                "event_type": event.event_type}
        emitted: list[str] = []
        try:
            for index, action in enumerate(spec.actions):
                emitted.extend(await self._act(skill, action, index, event))
        except Exception as exc:
            detail = {**base, "error": f"{type(exc).__name__}: {exc}", "emitted": emitted}
            self._steps.record_step(event, SKILL_FAILED, handler=owner, detail=detail)
            self._bus.emit(SKILL_FAILED, detail, source=owner, cause=event)
            raise
        detail = {**base, "actions": len(spec.actions), "emitted": emitted}
        self._steps.record_step(event, SKILL_COMPLETED, handler=owner, detail=detail)
        self._bus.emit(SKILL_COMPLETED, detail, source=owner, cause=event)

    async def _act(self, skill: Skill, action: ActionSpec, index: int, event: Event) -> list[str]:
        if action.emit is not None:
            context = context_of(event, skill={"name": skill.name, "version": skill.version})
            payload = render(action.emit.payload, context)
            child = Event.create(source=subscriber_name(skill.name),
                                 event_type=action.emit.event_type, payload=payload,
                                 priority=action.emit.priority or event.priority,
                                 agent_id=event.agent_id, parent=event)
            result = await self._bus.publish(child, internal=True)
            return [result.event.id]
        if action.workflow is not None:
            return await self._workflow(skill, action, event)
        raise ActionUnavailableError(
            f"action {index} of skill {skill.name}: tool actions are not run by "
            "event skills yet",
            hint="Remove the action or call the tool from a workflow or chat; the delivery is "
                 "retried, then parked in the DLQ.")

    async def _workflow(self, skill: Skill, action: ActionSpec, event: Event) -> list[str]:
        """Start an instance, or send ``event`` to the instance the action names."""
        spec = action.workflow
        assert spec is not None
        context = context_of(event, skill={"name": skill.name, "version": skill.version})
        data = render(spec.input, context)
        if spec.instance is None:
            if self.start_workflow is None:
                raise ActionUnavailableError("workflows are not available in this runtime")
            return [await self.start_workflow(spec.name, data, event)]
        instance = render(spec.instance, context)
        if not instance:
            raise ValueError(f"workflow action of skill {skill.name}: instance {spec.instance!r} "
                             "rendered empty")
        child = Event.create(source=subscriber_name(skill.name), event_type=spec.event or spec.name,
                             payload={**data, "workflow_instance_id": str(instance)},
                             priority=event.priority, agent_id=event.agent_id, parent=event)
        result = await self._bus.publish(child, internal=True)
        return [result.event.id]
