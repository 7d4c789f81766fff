"""WorkflowService: definitions from watched folders, instances driven by bus events, persisted.

One bus subscriber, ``workflows``, takes events whose payload names ``workflow_instance_id``, the
``workflow.timer`` events of state timeouts and auto-retries, and events matching a ``start_on``
trigger. Per instance, steps are serialised by a lock; each step asks the pure machine what to
do, runs the transition's action, then commits the instance and its history before the delivery
counts as done. Every move is announced as ``workflow_state_changed``; an event that moves
nothing is written on its trace and never fails the delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aman.clock import Clock
from aman.events.bus import EventBus
from aman.events.model import Event
from aman.events.types import WORKFLOW_STATE_CHANGED, EventTable
from aman.ids import uuid7
from aman.skills.runner import StepRecorder
from aman.skills.template import context_of, render
from aman.workflows import machine
from aman.workflows.catalog import INSTANCE_KEY, WorkflowCatalog
from aman.workflows.definition import WorkflowDefinition
from aman.workflows.errors import (
    InstanceNotFoundError,
    InvalidTransitionError,
    StepResult,
)
from aman.workflows.guard import InstanceGuard, InstanceHolds
from aman.workflows.machine import Decision, Move, Refusal
from aman.workflows.model import HistoryEntry, WorkflowInstance, WorkflowRepository
from aman.workflows.timers import TimerHeap

log = logging.getLogger(__name__)

SUBSCRIBER = "workflows"
TIMER_EVENT = "workflow.timer"
#: Every type the engine emits besides the core's ``workflow_state_changed``, declared at boot.
EVENT_TYPES: EventTable = (
    (TIMER_EVENT, "A workflow state's timer ran out; the instance takes its timeout move."),
)
TIMER_SOURCE = "workflow:timer"
CONTROL_SOURCE = "workflow:control"
SkillInvoker = Callable[[str, Event], Awaitable[None]]


class _Interest:
    """The subscriber's filter: instance events, timers, and start_on triggers."""

    def __init__(self, service: WorkflowService) -> None:
        self._service = service

    def matches(self, event: Event) -> bool:
        if event.event_type == TIMER_EVENT or INSTANCE_KEY in event.payload:
            return True
        return any(True for _ in self._service.triggers_for(event))


class WorkflowService:
    """Definitions, instances, the bus subscriber and the timers."""

    def __init__(self, repo: WorkflowRepository, bus: EventBus, steps: StepRecorder,
                 clock: Clock, dirs: list[Path], *, holds: InstanceHolds | None = None) -> None:
        self._repo = repo
        self._bus = bus
        self._steps = steps
        self._clock = clock
        self.catalog = WorkflowCatalog(repo, clock, dirs)
        #: Runs a skill for a ``skill`` action; wired by the composition root.
        self.run_skill: SkillInvoker | None = None
        #: The definition folders' watcher while running (set at boot; ``armed`` says it sees).
        self.watcher: Any = None
        #: Steps of one instance take turns (across daemons sharing the store, too).
        self._guard = InstanceGuard(repo, holds)
        self._timers = TimerHeap(clock, self._fire_timer)
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load definitions and subscribe (before dispatch opens, so recovered events meet us)."""
        await self.reload(reason="boot")
        self._unsubscribe = self._bus.subscribe(SUBSCRIBER, self.handle, _Interest(self))

    async def start_timers(self) -> int:
        """Rebuild the timers from the store and start them (after dispatch opened)."""
        wakes = await self._repo.wakes()
        self._timers.load([(w.instance_id, w.kind, w.due_at) for w in wakes])
        self._timers.start()
        return len(wakes)

    async def resync_timers(self) -> None:
        """Where timers fire (the leading daemon of a shared store), reload them from the store:
        instances other daemons moved set timers this daemon did not schedule."""
        if self._timers.running:
            wakes = await self._repo.wakes()
            self._timers.load([(w.instance_id, w.kind, w.due_at) for w in wakes])

    async def stop_timers(self) -> None:
        """Stop firing timers; they stay stored."""
        await self._timers.stop()

    async def stop(self) -> None:
        """Unsubscribe."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def reload(self, *, reason: str = "manual") -> dict[str, int]:
        """Re-read every folder; record new definition versions; running instances keep theirs."""
        return await self.catalog.reload(reason=reason)

    # --- definitions ---------------------------------------------------------------------

    @property
    def dirs(self) -> list[Path]:
        """The folders definitions load from, in shadowing order."""
        return self.catalog.dirs

    def register_builtin(self, definition: WorkflowDefinition) -> None:
        """A definition that ships in code (chat's ``message-session``); loaded on every reload."""
        self.catalog.register_builtin(definition)

    def listing(self) -> list[dict[str, Any]]:
        """Every definition file: name, description, states, status and error."""
        return self.catalog.listing()

    def definition(self, name: str) -> tuple[WorkflowDefinition, str, int]:
        """The current (definition, hash, version) of ``name``; 404 or 409 when not loadable."""
        return self.catalog.definition(name)

    def triggers_for(self, event: Event) -> Iterator[WorkflowDefinition]:
        """Definitions whose ``start_on`` matches ``event`` (never their own events)."""
        return self.catalog.triggers_for(event)

    async def _definition_of(self, instance: WorkflowInstance) -> WorkflowDefinition:
        """The definition version the instance started with, even after its file changed."""
        found = self.catalog.by_hash.get(instance.definition_hash)
        if found is None:
            row = await self._repo.definition(instance.workflow, instance.definition_hash)
            if row is None:
                raise InstanceNotFoundError(
                    f"instance {instance.id} refers to definition {instance.definition_hash[:12]} "
                    f"of {instance.workflow!r}, which is not stored")
            found = WorkflowDefinition.model_validate(row.body)
            self.catalog.by_hash[instance.definition_hash] = found
        return found

    # --- instances -----------------------------------------------------------------------

    async def create(self, name: str, data: dict[str, Any] | None = None, *,
                     started_by: str = "api", trigger: Event | None = None) -> WorkflowInstance:
        """A new instance in the initial state, committed and announced."""
        definition, digest, version = self.definition(name)
        now = self._clock.now_ms()
        instance = WorkflowInstance(
            id=uuid7(), workflow=name, definition_hash=digest, definition_version=version,
            state=definition.initial_state, data=dict(data or {}), created_at=now,
            state_entered_at=now, updated_at=now, started_by=started_by)
        entry = machine.enter(definition, instance, Move(definition.initial_state, "created"), now,
                              event_id=trigger.id if trigger else None,
                              event_type=trigger.event_type if trigger else None)
        entry.from_state = None
        await self._repo.save(instance, [entry],
                              trigger_event_id=trigger.id if trigger else None)
        self._guard.remember(instance)
        self._announce(definition, instance, [entry], cause=trigger)
        return instance

    async def start_for(self, name: str, data: dict[str, Any], cause: Event) -> str:
        """Start an instance for a skill's ``workflow`` action; return its id."""
        instance = await self.create(name, data, started_by=f"event:{cause.id}")
        return instance.id

    async def send(self, instance_id: str, event_type: str,
                   payload: dict[str, Any] | None = None) -> StepResult:
        """Apply ``event_type`` to an instance now, without a trip through the bus (components
        that own their instances, such as chat sessions); the move is announced as usual."""
        event = Event.create(source=CONTROL_SOURCE, event_type=event_type,
                             payload={INSTANCE_KEY: instance_id, **(payload or {})})
        async with self._guard.lock(instance_id):
            instance = await self._guard.load(instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"workflow instance not found: {instance_id}")
            return await self._step(instance, lambda d, i: machine.decide_event(
                d, i, event_type, event.payload), event, event_type)

    async def current(self, instance_id: str) -> WorkflowInstance:
        """The instance's latest state, without history: read from the step cache first, so a
        move whose write is still queued already shows (chat sessions read their state here).
        The result is shared: do not change it."""
        found = await self._guard.load(instance_id)
        if found is None:
            raise InstanceNotFoundError(f"workflow instance not found: {instance_id}")
        return found

    async def get(self, instance_id: str) -> WorkflowInstance:
        """One instance with its history."""
        found = await self._repo.get(instance_id, with_history=True)
        if found is None:
            raise InstanceNotFoundError(f"workflow instance not found: {instance_id}")
        return found

    async def page(self, *, workflow: str | None, state: str | None, after: str | None,
                   limit: int) -> tuple[list[WorkflowInstance], str | None]:
        """A page of instances and the id to continue after (None at the end)."""
        items = await self._repo.page(workflow=workflow, state=state, after=after, limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return items, (items[-1].id if more and items else None)

    async def retry(self, instance_id: str, *, operator: str) -> tuple[str, StepResult]:
        """Operator retry: back to the last active state, replaying the failed event."""
        return await self._control(instance_id, "retry", operator, machine.decide_retry)

    async def cancel(self, instance_id: str, *, operator: str) -> tuple[str, StepResult]:
        """Operator cancel: a cancel transition, else the ``cancelled`` state."""
        return await self._control(instance_id, "cancel", operator, machine.decide_cancel)

    async def _control(self, instance_id: str, name: str, operator: str,
                       decide: Callable[[WorkflowDefinition, WorkflowInstance], Decision],
                       ) -> tuple[str, StepResult]:
        async with self._guard.lock(instance_id):
            instance = await self._guard.load(instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"workflow instance not found: {instance_id}")
            before = instance.state
            result = await self._step(instance, lambda d, i: decide(d, i), None, name,
                                      detail={"operator": operator})
        if result.refusal is not None:
            raise InvalidTransitionError(
                f"cannot {name} instance {instance_id}: {result.refusal.message} "
                f"(current state: {before!r})",
                details={"current_state": before, "reason": result.refusal.code})
        return before, result

    # --- the bus subscriber --------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Route one event: to its instance, to a timer, or to the start_on triggers."""
        if event.event_type == TIMER_EVENT:
            await self._on_timer(event)
        elif INSTANCE_KEY in event.payload:
            await self._on_instance_event(event)
        else:
            for definition in list(self.triggers_for(event)):
                await self._start_from(definition, event)

    async def _on_instance_event(self, event: Event) -> None:
        instance_id = str(event.payload[INSTANCE_KEY])
        async with self._guard.lock(instance_id):
            instance = await self._guard.load(instance_id)
            if instance is None:
                self._trace(event, "workflow:unknown_instance", {"instance_id": instance_id})
                return
            if event.id in instance.recent_events:
                self._trace(event, "workflow:duplicate", {"instance_id": instance_id})
                return
            name = event.event_type.strip().lower()
            if instance.state == (await self._definition_of(instance)).error_state \
                    and name in ("retry", "cancel"):
                decide = machine.decide_retry if name == "retry" else machine.decide_cancel
                await self._step(instance, decide, event, name)
            else:
                await self._step(instance, lambda d, i: machine.decide_event(
                    d, i, event.event_type, event.payload), event, event.event_type)

    async def _on_timer(self, event: Event) -> None:
        instance_id = str(event.payload.get("instance_id", ""))
        kind, due_at = str(event.payload.get("kind")), int(event.payload.get("due_at", 0))
        async with self._guard.lock(instance_id):
            instance = await self._guard.load(instance_id)
            if instance is None:
                self._trace(event, "workflow:unknown_instance", {"instance_id": instance_id})
                return
            await self._step(instance, lambda d, i: machine.decide_wake(d, i, kind, due_at),
                             event, TIMER_EVENT)

    async def _start_from(self, definition: WorkflowDefinition, event: Event) -> None:
        async with self._guard.lock(f"start:{definition.name}"):
            existing = await self._repo.by_trigger(definition.name, event.id)
            if existing is not None:
                self._trace(event, "workflow:duplicate", {"instance_id": existing})
                return
            instance = await self.create(definition.name, event.payload,
                                         started_by=f"event:{event.id}", trigger=event)
        self._trace(event, "workflow:created", {"instance_id": instance.id,
                                                "workflow": definition.name})

    async def _fire_timer(self, instance_id: str, kind: str, due_at: int) -> None:
        await self._bus.publish(Event.create(
            source=TIMER_SOURCE, event_type=TIMER_EVENT,
            payload={"instance_id": instance_id, "kind": kind, "due_at": due_at},
            dedup_key=f"workflow-timer:{instance_id}:{kind}:{due_at}"), internal=True)

    # --- one step ------------------------------------------------------------------------

    async def _step(self, instance: WorkflowInstance,
                    decide: Callable[[WorkflowDefinition, WorkflowInstance], Decision],
                    event: Event | None, label: str, *,
                    detail: dict[str, Any] | None = None) -> StepResult:
        """Decide, act, commit, announce. The caller holds the instance's lock."""
        definition = await self._definition_of(instance)
        decision = decide(definition, instance)
        if isinstance(decision, Refusal):
            if event is not None:
                self._trace(event, f"workflow:{decision.code}",
                            {"instance_id": instance.id, "state": instance.state,
                             "message": decision.message})
            return StepResult(instance, [], decision)
        work = instance.copy()
        work.history = []
        if event is not None:
            work.last_event_at = event.timestamp
        await self._apply(definition, work, decision, event, label, detail or {})
        # Bus-driven steps queue their writes (committed before the delivery record, in order);
        # operator steps wait, so their answer means committed; so does every step on a shared
        # store, whose next step may run on another daemon.
        await self._repo.save(work, work.history, wait=event is None or self._guard.shared)
        self._guard.remember(work)
        self._announce(definition, work, work.history, cause=event)
        if work.wake_at is not None and (work.wake_at, work.wake_kind) != (
                instance.wake_at, instance.wake_kind):
            self._timers.schedule(work.id, str(work.wake_kind), work.wake_at)
        if event is not None:
            self._trace(event, "workflow:transitioned",
                        {"instance_id": work.id, "from": instance.state, "to": work.state,
                         "steps": len(work.history)})
        return StepResult(work, work.history)

    async def _apply(self, definition: WorkflowDefinition, work: WorkflowInstance, move: Move,
                     event: Event | None, label: str, detail: dict[str, Any]) -> None:
        now = self._clock.now_ms()
        event_id = event.id if event else None
        if move.action is not None:
            try:
                await self._run_action(definition, work, move, event)
            except Exception as exc:
                target = move.on_action_failure or definition.error_state
                error = f"{move.action.describe()} failed: {type(exc).__name__}: {exc}"
                if target is None:
                    raise  # nowhere to go: the bus retries the event, then parks it
                work.last_error = error
                work.failed_event = {"id": event_id, "event_type": label,
                                     "payload": event.payload if event else {}}
                machine.enter(definition, work, Move(target, "action_failed"), now,
                              event_id=event_id, event_type=label, detail={**detail,
                                                                            "error": error})
                return
        replay = work.failed_event if move.counts_retry else None
        if move.to != definition.error_state:
            work.failed_event = None  # leaving the error state ends the episode (a retry replays)
        machine.enter(definition, work, move, now, event_id=event_id, event_type=label,
                      detail=detail)
        if replay is not None and not definition.is_final(work.state):
            # A retry re-runs the event whose action failed, from the state it failed in.
            again = machine.decide_event(definition, work, replay["event_type"],
                                         replay["payload"])
            if isinstance(again, Move):
                replayed = Event.create(source=CONTROL_SOURCE, event_type=replay["event_type"],
                                        payload=replay["payload"], parent=event)
                await self._apply(definition, work, again, replayed, replay["event_type"],
                                  {"replayed_event_id": replay["id"]})

    async def _run_action(self, definition: WorkflowDefinition, work: WorkflowInstance,
                          move: Move, event: Event | None) -> None:
        action = move.action
        assert action is not None
        trigger = event or Event.create(source=CONTROL_SOURCE, event_type="workflow.action",
                                        payload={INSTANCE_KEY: work.id})
        if action.skill is not None:
            if self.run_skill is None:
                raise RuntimeError("skills are not available to workflows in this runtime")
            await self.run_skill(action.skill, trigger)
            return
        assert action.emit is not None
        context = context_of(trigger, data=work.data, instance={
            "id": work.id, "workflow": work.workflow, "state": work.state, "to": move.to})
        await self._bus.publish(Event.create(
            source=f"workflow:{definition.name}", event_type=action.emit.event_type,
            payload=render(action.emit.payload, context),
            priority=action.emit.priority or trigger.priority, parent=trigger), internal=True)

    # --- helpers -------------------------------------------------------------------------

    def _announce(self, definition: WorkflowDefinition, instance: WorkflowInstance,
                  entries: list[HistoryEntry], *, cause: Event | None) -> None:
        for entry in entries:
            self._bus.emit(WORKFLOW_STATE_CHANGED, {
                "instance_id": instance.id, "workflow": instance.workflow,
                "from": entry.from_state, "to": entry.to_state, "reason": entry.reason,
                "is_final": definition.is_final(entry.to_state),
                "is_error": entry.to_state == definition.error_state,
                "error": instance.last_error if entry.to_state == definition.error_state else None,
                "event_id": entry.event_id,
            }, source=f"workflow:{instance.workflow}", cause=cause)

    def _trace(self, event: Event, step: str, detail: dict[str, Any]) -> None:
        self._steps.record_step(event, step, handler=SUBSCRIBER, detail=detail)
