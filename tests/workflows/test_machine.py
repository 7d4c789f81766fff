"""The pure state machine: event decisions, guards, $last_active, entering states, retry, cancel
and timers, without a database or a bus."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from aman.workflows import machine
from aman.workflows.definition import WorkflowDefinition
from aman.workflows.machine import Move, Refusal
from aman.workflows.model import WorkflowInstance

HOUR, DAY = 3_600_000, 86_400_000

ORDER = """
name: order
states: [draft, review, approved, rejected, error, archived, cancelled]
initial_state: draft
final_states: [approved, rejected, archived, cancelled]
error_state: error
transitions:
  - {from: draft, event: submit, to: review, guard: {payload: {form: {complete: true}}}}
  - {from: draft, event: submit, to: approved, guard: {data: {vip: true}}, on_fail: rejected}
  - from: review
    event: approve
    to: approved
    guard: has_permission
    action: {emit: {event_type: order_approved}}
    on_action_failure: rejected
  - {from: review, event: escalate, to: draft, guard: max_retry}
  - {from: review, event: reject, to: rejected}
  - {from: error, event: resume, to: $last_active}
  - {from: "*", event: reset, to: draft}
state_timeouts:
  - {state: review, after: 2h, on_timeout: rejected}
  - {state: error, after: 7d, on_timeout: archived}
  - {state: rejected, after: 30d, on_timeout: archived}
error_recovery:
  auto_retry_count: 2
  max_retry_count: 3
  retry_backoff: "sequence:100,500"
  on_retry_failure: archive
"""


def define(text: str = ORDER, **changes: Any) -> WorkflowDefinition:
    """A definition from YAML text; keyword arguments replace top-level keys."""
    return WorkflowDefinition.model_validate({**yaml.safe_load(textwrap.dedent(text)), **changes})


def instance(definition: WorkflowDefinition, state: str | None = None,
             **fields: Any) -> WorkflowInstance:
    return WorkflowInstance(id="wf-1", workflow=definition.name,
                            definition_hash=definition.content_hash(), definition_version=1,
                            state=state or definition.initial_state, data=fields.pop("data", {}),
                            created_at=0, state_entered_at=0, updated_at=0, **fields)


def fail(definition: WorkflowDefinition, inst: WorkflowInstance, now: int) -> None:
    """What the engine does when an action fails: remember the event, enter the error state."""
    inst.failed_event = {"id": "ev-1", "event_type": "approve", "payload": {}}
    inst.last_error = "emit order_approved failed: boom"
    machine.enter(definition, inst, Move("error", "action_failed"), now)


# --- decide_event ------------------------------------------------------------------------

def test_the_first_transition_whose_guard_passes_wins() -> None:
    order = define()
    both = instance(order, data={"vip": True})
    decision = machine.decide_event(order, both, "submit", {"form": {"complete": True}, "x": 1})
    assert decision == Move("review", "event")
    only_data = instance(order, data={"vip": True, "region": "eu"})
    assert machine.decide_event(order, only_data, "submit", {}) == Move("approved", "event")


def test_a_payload_guard_is_a_subset_match() -> None:
    order = define()
    inst = instance(order)
    assert machine.guard_passes(order.transitions[0].guard, order, inst,
                                {"form": {"complete": True, "pages": 3}, "by": "ann"})
    assert not machine.guard_passes(order.transitions[0].guard, order, inst,
                                    {"form": {"complete": "true"}})
    assert not machine.guard_passes(order.transitions[0].guard, order, inst, {})


def test_a_data_guard_matches_the_instance_data_not_the_payload() -> None:
    order = define()
    guard = order.transitions[1].guard
    assert machine.guard_passes(guard, order, instance(order, data={"vip": True}), {})
    assert not machine.guard_passes(guard, order, instance(order), {"vip": True})


def test_when_every_guard_rejects_on_fail_is_the_target_without_the_action() -> None:
    order = define()
    decision = machine.decide_event(order, instance(order), "submit", {"form": {}})
    assert decision == Move("rejected", "guard_rejected")


def test_a_rejected_guard_without_on_fail_refuses_the_event() -> None:
    order = define()
    decision = machine.decide_event(order, instance(order, "review"), "approve",
                                    {"has_permission": "yes"})
    assert isinstance(decision, Refusal) and decision.code == "guard_rejected"
    assert "'approve' in state 'review' rejected the event" in decision.message


def test_has_permission_needs_a_literal_true_and_carries_the_action() -> None:
    order = define()
    decision = machine.decide_event(order, instance(order, "review"), "Approve",
                                    {"has_permission": True})
    assert isinstance(decision, Move)
    assert (decision.to, decision.reason, decision.on_action_failure) == (
        "approved", "event", "rejected")
    assert decision.action is not None and decision.action.describe() == "emit order_approved"


def test_max_retry_guard_passes_while_retries_remain() -> None:
    order = define()
    assert machine.decide_event(order, instance(order, "review", total_retry_count=2),
                                "escalate", {}) == Move("draft", "event")
    refused = machine.decide_event(order, instance(order, "review", total_retry_count=3),
                                   "escalate", {})
    assert isinstance(refused, Refusal) and refused.code == "guard_rejected"


def test_an_event_without_a_transition_is_refused_listing_what_the_state_accepts() -> None:
    order = define()
    decision = machine.decide_event(order, instance(order, "review"), "fly", {})
    assert decision == Refusal("no_transition", "no transition for event 'fly' in state "
                                                "'review'; it accepts: approve, escalate, "
                                                "reject, reset")


def test_wildcard_transitions_apply_in_every_state() -> None:
    order = define()
    assert machine.decide_event(order, instance(order, "error"), "RESET", {}) == Move(
        "draft", "event")


def test_a_finished_instance_refuses_every_event() -> None:
    order = define()
    done = instance(order, "approved", status="finished")
    decision = machine.decide_event(order, done, "reset", {})
    assert isinstance(decision, Refusal) and decision.code == "finished"
    assert "already finished in state 'approved'" in decision.message


def test_last_active_resolves_to_the_saved_state_else_the_initial_state() -> None:
    order = define()
    saved = instance(order, "error", last_active_state="review")
    assert machine.decide_event(order, saved, "resume", {}) == Move("review", "event")
    assert machine.decide_event(order, instance(order, "error"), "resume", {}) == Move(
        "draft", "event")


# --- enter -------------------------------------------------------------------------------

def test_enter_records_the_move_and_when_the_state_was_entered() -> None:
    order = define()
    inst = instance(order)
    entry = machine.enter(order, inst, Move("review", "event"), 5_000, event_id="ev-9",
                          event_type="submit", detail={"by": "ann"})
    assert (inst.state, inst.state_entered_at, inst.updated_at, inst.status) == (
        "review", 5_000, 5_000, "active")
    assert inst.history == [entry]
    assert entry.to_json() == {"from": "draft", "to": "review", "reason": "event",
                               "event_id": "ev-9", "event_type": "submit", "at": 5_000,
                               "detail": {"by": "ann"}}


def test_entering_a_state_with_a_timeout_sets_the_wake() -> None:
    order = define()
    inst = instance(order)
    machine.enter(order, inst, Move("review", "event"), 1_000)
    assert (inst.wake_at, inst.wake_kind) == (1_000 + 2 * HOUR, "timeout")
    machine.enter(order, inst, Move("draft", "event"), 2_000)
    assert (inst.wake_at, inst.wake_kind) == (None, None)


def test_a_final_state_finishes_the_instance_without_a_wake() -> None:
    order = define()
    inst = instance(order, "review", wake_at=99, wake_kind="timeout")
    machine.enter(order, inst, Move("rejected", "timeout"), 1_000)  # rejected has a 30d timeout
    assert (inst.status, inst.wake_at, inst.wake_kind) == ("finished", None, None)


def test_entering_the_error_state_saves_the_last_active_state() -> None:
    order = define()
    inst = instance(order, "review", session_retry_count=2)
    machine.enter(order, inst, Move("error", "action_failed"), 1_000)
    assert (inst.state, inst.last_active_state, inst.session_retry_count) == ("error", "review", 0)
    assert (inst.wake_at, inst.wake_kind) == (1_000 + 7 * DAY, "timeout")


def test_a_move_within_the_error_state_keeps_the_saved_state() -> None:
    order = define()
    inst = instance(order, "error", last_active_state="review", session_retry_count=1)
    machine.enter(order, inst, Move("error", "event"), 1_000)
    assert (inst.last_active_state, inst.session_retry_count) == ("review", 1)


def test_leaving_the_error_state_clears_the_last_error() -> None:
    order = define()
    inst = instance(order, "review")
    fail(order, inst, 1_000)
    assert inst.last_error == "emit order_approved failed: boom"
    machine.enter(order, inst, Move("review", "retry", counts_retry=True), 2_000)
    assert inst.last_error is None


def test_retries_count_in_total_and_session_and_auto_retries_separately() -> None:
    order = define()
    inst = instance(order, "error", last_active_state="review")
    machine.enter(order, inst, Move("review", "retry", counts_retry=True), 1_000)
    assert (inst.total_retry_count, inst.session_retry_count, inst.auto_retry_attempts) == (
        1, 1, 0)
    inst.state = "error"
    machine.enter(order, inst, Move("review", "auto_retry", counts_retry=True), 2_000)
    assert (inst.total_retry_count, inst.session_retry_count, inst.auto_retry_attempts) == (
        2, 2, 1)
    machine.enter(order, inst, Move("draft", "event"), 3_000)
    assert (inst.total_retry_count, inst.auto_retry_attempts) == (2, 0)


def test_a_failed_action_schedules_an_auto_retry_after_the_backoff() -> None:
    order = define()
    inst = instance(order, "review")
    fail(order, inst, 1_000)
    assert (inst.wake_at, inst.wake_kind) == (1_100, "auto_retry")


def test_auto_retries_follow_the_backoff_and_stop_after_auto_retry_count() -> None:
    order = define()  # auto_retry_count 2, sequence:100,500, then the error state's 7d timeout
    inst = instance(order, "review")
    fail(order, inst, 1_000)
    wakes = [(inst.wake_kind, inst.wake_at - 1_000 if inst.wake_at else None)]
    for now in (2_000, 3_000):
        decision = machine.decide_wake(order, inst, "auto_retry", inst.wake_at or 0)
        assert decision == Move("review", "auto_retry", counts_retry=True)
        inst.failed_event = None
        machine.enter(order, inst, decision, now)
        fail(order, inst, now)  # the replayed action fails again
        wakes.append((inst.wake_kind, inst.wake_at - now if inst.wake_at else None))
    assert wakes == [("auto_retry", 100), ("auto_retry", 500), ("timeout", 7 * DAY)]
    assert (inst.auto_retry_attempts, inst.total_retry_count) == (2, 2)


def test_no_auto_retry_without_a_failed_event_or_when_the_budget_is_spent() -> None:
    order = define()
    plain = instance(order, "review")
    machine.enter(order, plain, Move("error", "event"), 1_000)
    assert plain.wake_kind == "timeout"
    spent = instance(order, "review", total_retry_count=3)
    fail(order, spent, 1_000)
    assert spent.wake_kind == "timeout"


# --- decide_retry ------------------------------------------------------------------------

def test_retry_outside_the_error_state_is_refused() -> None:
    order = define()
    decision = machine.decide_retry(order, instance(order, "review"))
    assert isinstance(decision, Refusal) and decision.code == "not_in_error"
    assert "is in state 'review'; retry applies only in the error state 'error'" in decision.message


def test_retry_returns_to_the_last_active_state_and_counts() -> None:
    order = define()
    decision = machine.decide_retry(order, instance(order, "error", last_active_state="review",
                                                    total_retry_count=2))
    assert decision == Move("review", "retry", counts_retry=True)


def test_retry_past_the_budget_archives_when_the_policy_says_archive() -> None:
    order = define()
    decision = machine.decide_retry(order, instance(order, "error", total_retry_count=3))
    assert decision == Move("archived", "retry_exceeded")
    assert not decision.counts_retry


def test_retry_past_the_budget_is_refused_with_manual_only() -> None:
    order = define(error_recovery={"max_retry_count": 1, "on_retry_failure": "manual_only"})
    decision = machine.decide_retry(order, instance(order, "error", total_retry_count=1))
    assert isinstance(decision, Refusal) and decision.code == "retry_exhausted"
    assert "used all 1 retries (on_retry_failure: manual_only)" in decision.message


def test_archive_policy_without_an_archived_state_refuses_instead() -> None:
    order = define(states=["draft", "review", "approved", "rejected", "error", "cancelled"],
                   final_states=["approved", "rejected", "cancelled"],
                   state_timeouts=[], error_recovery={"on_retry_failure": "archive"})
    decision = machine.decide_retry(order, instance(order, "error", total_retry_count=3))
    assert isinstance(decision, Refusal) and decision.code == "retry_exhausted"


# --- decide_cancel -----------------------------------------------------------------------

def test_cancel_goes_to_the_cancelled_state() -> None:
    order = define()
    assert machine.decide_cancel(order, instance(order, "review")) == Move("cancelled", "cancel")
    assert machine.decide_cancel(order, instance(order, "error")) == Move("cancelled", "cancel")


def test_an_explicit_cancel_transition_wins_over_the_cancelled_state() -> None:
    order = define(transitions=[*yaml.safe_load(ORDER)["transitions"],
                                {"from": "review", "event": "cancel", "to": "rejected"}])
    assert machine.decide_cancel(order, instance(order, "review")) == Move("rejected", "cancel")
    assert machine.decide_cancel(order, instance(order, "draft")) == Move("cancelled", "cancel")


def test_a_finished_instance_cannot_be_cancelled() -> None:
    order = define()
    decision = machine.decide_cancel(order, instance(order, "approved", status="finished"))
    assert isinstance(decision, Refusal) and decision.code == "not_cancellable"
    assert "already finished in state 'approved'" in decision.message


def test_cancel_is_refused_without_a_cancelled_state_or_cancel_transition() -> None:
    plain = define("""
        name: plain
        states: [open, done]
        initial_state: open
        final_states: [done]
        transitions: [{from: open, event: finish, to: done}]
        """)
    decision = machine.decide_cancel(plain, instance(plain))
    assert isinstance(decision, Refusal) and decision.code == "not_cancellable"
    assert "workflow 'plain' has no 'cancelled' state or cancel transition" in decision.message


# --- decide_wake -------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "due_at", "status"), [
    ("auto_retry", 500, "active"),  # another kind
    ("timeout", 400, "active"),     # an older due time
    ("timeout", 500, "finished"),
])
def test_a_timer_the_instance_no_longer_waits_for_is_stale(kind: str, due_at: int,
                                                           status: str) -> None:
    order = define()
    inst = instance(order, "review", wake_at=500, wake_kind="timeout", status=status)
    decision = machine.decide_wake(order, inst, kind, due_at)
    assert isinstance(decision, Refusal) and decision.code == "stale_timer"


def test_a_due_timeout_moves_to_its_target() -> None:
    order = define()
    inst = instance(order, "review", wake_at=500, wake_kind="timeout")
    assert machine.decide_wake(order, inst, "timeout", 500) == Move("rejected", "timeout")


def test_a_timeout_of_a_state_without_one_is_stale() -> None:
    order = define()
    inst = instance(order, "draft", wake_at=500, wake_kind="timeout")
    decision = machine.decide_wake(order, inst, "timeout", 500)
    assert isinstance(decision, Refusal) and decision.code == "stale_timer"


def test_a_due_auto_retry_returns_to_the_last_active_state() -> None:
    order = define()
    inst = instance(order, "error", last_active_state="review", wake_at=500,
                    wake_kind="auto_retry")
    assert machine.decide_wake(order, inst, "auto_retry", 500) == Move(
        "review", "auto_retry", counts_retry=True)
    spent = instance(order, "error", total_retry_count=3, wake_at=500, wake_kind="auto_retry")
    assert machine.decide_wake(order, spent, "auto_retry", 500) == Move(
        "archived", "retry_exceeded")


def test_instance_json_shows_the_timer_and_pending_retry() -> None:
    order = define()
    inst = instance(order, "review")
    fail(order, inst, 1_000)
    body = inst.to_json(with_history=True)
    assert body["current_state"] == "error" and body["has_pending_retry"] is True
    assert body["timer"] == {"kind": "auto_retry", "due_at": 1_100}
    assert [h["reason"] for h in body["history"]] == ["action_failed"]
    assert "history" not in inst.to_json()


def test_enter_remembers_the_last_event_ids_for_redelivery_checks() -> None:
    order = define()
    inst = instance(order)
    last = f"ev-{machine.RECENT_EVENTS + 2}"
    for n in range(machine.RECENT_EVENTS + 3):
        machine.enter(order, inst, Move("draft", "event"), n, event_id=f"ev-{n}")
    machine.enter(order, inst, Move("draft", "event"), 99, event_id=last)  # already known
    machine.enter(order, inst, Move("draft", "timeout"), 100)  # no event id: nothing remembered
    assert len(inst.recent_events) == machine.RECENT_EVENTS
    assert inst.recent_events[0] == "ev-3"
    assert inst.recent_events[-1] == last
