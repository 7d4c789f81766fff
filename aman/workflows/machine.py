"""The pure state machine: which move an event, a retry, a cancel or a timer makes. No I/O.

The engine loads an instance, asks this module what to do, runs any action, then applies the
move with ``enter`` and persists the result. Keeping decisions here means every rule
(guards, ``$last_active``, the retry budget, cancel, timeouts, auto-retry backoff) is tested
without a database or a bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aman.events.filters import payload_matches
from aman.workflows.definition import LAST_ACTIVE, ActionSpec, GuardMatch, WorkflowDefinition
from aman.workflows.model import HistoryEntry, WakeKind, WorkflowInstance

#: How many recent event ids an instance remembers (redeliveries come right after a crash).
RECENT_EVENTS = 32


@dataclass(frozen=True)
class Move:
    """A decided transition to ``to`` for ``reason`` (action, if any, runs before entering)."""

    to: str
    reason: str
    action: ActionSpec | None = None
    #: Where to go when the action fails (None: the error state).
    on_action_failure: str | None = None
    counts_retry: bool = False


@dataclass(frozen=True)
class Refusal:
    """Nothing moves; ``code`` says why (for traces and 409 answers)."""

    code: Literal["finished", "no_transition", "guard_rejected", "not_in_error",
                  "retry_exhausted", "not_cancellable", "stale_timer"]
    message: str


Decision = Move | Refusal


def guard_passes(guard: str | GuardMatch | None, definition: WorkflowDefinition,
                 instance: WorkflowInstance, payload: dict[str, Any]) -> bool:
    """Evaluate a transition's guard against the event payload and the instance data."""
    if guard is None:
        return True
    if guard == "has_permission":
        return payload.get("has_permission") is True
    if guard == "max_retry":
        return instance.total_retry_count < definition.error_recovery.max_retry_count
    assert isinstance(guard, GuardMatch)
    return payload_matches(guard.payload, payload) and payload_matches(guard.data, instance.data)


def decide_event(definition: WorkflowDefinition, instance: WorkflowInstance, event_type: str,
                 payload: dict[str, Any]) -> Decision:
    """The move ``event_type`` makes: the first transition whose guard passes, else ``on_fail``."""
    if instance.status == "finished":
        return Refusal("finished", f"instance {instance.id} already finished in state "
                                   f"{instance.state!r}")
    candidates = definition.transitions_for(instance.state, event_type)
    if not candidates:
        listening = sorted({t.event for t in definition.transitions
                            if t.from_state in (instance.state, "*")})
        return Refusal("no_transition", f"no transition for event {event_type!r} in state "
                       f"{instance.state!r}; it accepts: {', '.join(listening) or 'nothing'}")
    for transition in candidates:
        if guard_passes(transition.guard, definition, instance, payload):
            return Move(resolve(definition, instance, transition.to), "event",
                        action=transition.action, on_action_failure=transition.on_action_failure)
    fallback = next((t.on_fail for t in candidates if t.on_fail is not None), None)
    if fallback is not None:
        return Move(fallback, "guard_rejected")
    return Refusal("guard_rejected", f"the guard of every transition for {event_type!r} in state "
                                     f"{instance.state!r} rejected the event")


def decide_retry(definition: WorkflowDefinition, instance: WorkflowInstance) -> Decision:
    """Back to the last active state while the retry budget lasts; then ``on_retry_failure``."""
    if instance.status == "finished" or instance.state != definition.error_state:
        return Refusal("not_in_error", f"instance {instance.id} is in state {instance.state!r}; "
                       f"retry applies only in the error state {definition.error_state!r}")
    recovery = definition.error_recovery
    if instance.total_retry_count >= recovery.max_retry_count:
        archived = definition.canonical("archived")
        if recovery.on_retry_failure == "archive" and archived is not None:
            return Move(archived, "retry_exceeded")
        return Refusal("retry_exhausted", f"instance {instance.id} used all "
                       f"{recovery.max_retry_count} retries (on_retry_failure: "
                       f"{recovery.on_retry_failure}); cancel it or fix and recreate it")
    return Move(resolve(definition, instance, LAST_ACTIVE), "retry", counts_retry=True)


def decide_cancel(definition: WorkflowDefinition, instance: WorkflowInstance) -> Decision:
    """A ``cancel`` transition of the current state if one exists, else the ``cancelled`` state."""
    if instance.status == "finished":
        return Refusal("not_cancellable", f"instance {instance.id} already finished in state "
                                          f"{instance.state!r}")
    if definition.transitions_for(instance.state, "cancel"):
        decision = decide_event(definition, instance, "cancel", {})
        if isinstance(decision, Move):
            return Move(decision.to, "cancel", action=decision.action,
                        on_action_failure=decision.on_action_failure)
    cancelled = definition.canonical("cancelled")
    if cancelled is None:
        return Refusal("not_cancellable", f"instance {instance.id} is in state "
                       f"{instance.state!r} and workflow {definition.name!r} has no 'cancelled' "
                       "state or cancel transition")
    return Move(cancelled, "cancel")


def decide_wake(definition: WorkflowDefinition, instance: WorkflowInstance, kind: str,
                due_at: int) -> Decision:
    """What a fired timer does, unless the instance moved on since it was set."""
    if instance.wake_kind != kind or instance.wake_at != due_at or instance.status == "finished":
        return Refusal("stale_timer", f"timer {kind} at {due_at} no longer applies to instance "
                                      f"{instance.id} (state {instance.state!r})")
    if kind == "auto_retry":
        decision = decide_retry(definition, instance)
        return Move(decision.to, "auto_retry", counts_retry=decision.counts_retry) \
            if isinstance(decision, Move) and decision.counts_retry else decision
    timeout = definition.timeout_for(instance.state)
    if timeout is None:
        return Refusal("stale_timer", f"state {instance.state!r} has no timeout any more")
    return Move(timeout.on_timeout, "timeout")


def resolve(definition: WorkflowDefinition, instance: WorkflowInstance, target: str) -> str:
    """``$last_active`` → the saved state (the initial state when none was saved)."""
    if target == LAST_ACTIVE:
        return instance.last_active_state or definition.initial_state
    return target


def enter(definition: WorkflowDefinition, instance: WorkflowInstance, move: Move, now_ms: int, *,
          event_id: str | None = None, event_type: str | None = None,
          detail: dict[str, Any] | None = None) -> HistoryEntry:
    """Apply ``move`` to ``instance`` in place and return the history entry it adds."""
    previous = instance.state
    error_state = definition.error_state
    if move.to == error_state and previous != error_state:
        instance.last_active_state = previous
        instance.session_retry_count = 0
    if move.reason not in ("retry", "auto_retry", "action_failed"):
        # Any other move ends the failure episode. (A retry's failed replay re-enters the error
        # state and must not restart the count, or auto_retry_count and the backoff never apply.)
        instance.auto_retry_attempts = 0
    if move.counts_retry:
        instance.total_retry_count += 1
        instance.session_retry_count += 1
        if move.reason == "auto_retry":
            instance.auto_retry_attempts += 1
    if move.to != error_state:
        instance.last_error = None
    instance.state = move.to
    instance.state_entered_at = now_ms
    instance.updated_at = now_ms
    instance.wake_at, instance.wake_kind = _next_wake(definition, instance, now_ms)
    if definition.is_final(move.to):
        instance.status = "finished"
        instance.wake_at = instance.wake_kind = None
    if event_id is not None and event_id not in instance.recent_events:
        instance.recent_events = [*instance.recent_events[-(RECENT_EVENTS - 1):], event_id]
    entry = HistoryEntry(previous, move.to, move.reason, now_ms, event_id, event_type,
                         dict(detail or {}))
    instance.history.append(entry)
    return entry


def _next_wake(definition: WorkflowDefinition, instance: WorkflowInstance,
               now_ms: int) -> tuple[int | None, WakeKind | None]:
    recovery = definition.error_recovery
    if (instance.state == definition.error_state and instance.failed_event is not None
            and instance.auto_retry_attempts < recovery.auto_retry_count
            and instance.total_retry_count < recovery.max_retry_count):
        return now_ms + recovery.backoff.delay_ms(instance.auto_retry_attempts + 1), "auto_retry"
    timeout = definition.timeout_for(instance.state)
    if timeout is not None:
        return now_ms + timeout.after_ms, "timeout"
    return None, None
