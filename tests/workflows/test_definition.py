"""Definition model: durations, backoff forms, validation messages, canonical names, the hash."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from aman.workflows.definition import Backoff, WorkflowDefinition, parse_duration_ms
from aman.workflows.loader import load_file

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "workflows"

BASE = """
name: ticket
states: [open, working, done, error, cancelled]
initial_state: open
final_states: [done, cancelled]
error_state: error
transitions:
  - {from: open, event: start, to: working}
  - {from: working, event: finish, to: done}
"""


def raw(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(textwrap.dedent(text))
    return loaded


def define(text: str = BASE, changes: str = "") -> WorkflowDefinition:
    """A definition from YAML text, with top-level keys replaced by those of ``changes``."""
    return WorkflowDefinition.model_validate({**raw(text), **(raw(changes) or {})})


# --- durations ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "millis"), [
    ("30s", 30_000), ("2h", 7_200_000), ("7d", 604_800_000), ("250ms", 250), ("5m", 300_000),
    ("1.5h", 5_400_000), (" 10 s ", 10_000), (30, 30_000), (0.25, 250),
])
def test_durations_convert_to_milliseconds(text: str | int | float, millis: int) -> None:
    assert parse_duration_ms(text) == millis


@pytest.mark.parametrize("text", ["soon", "30", "30x", "-1s", "", "h", "30 S"])
def test_a_bad_duration_says_which_forms_exist(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration; write e.g. 30s, 5m, 2h, 7d or 250ms"):
        parse_duration_ms(text)


@pytest.mark.parametrize("value", [0, "0s", -5, "0.1ms"])
def test_a_zero_or_negative_duration_is_refused(value: str | int) -> None:
    with pytest.raises(ValueError, match="must be longer than zero"):
        parse_duration_ms(value)


def test_a_boolean_is_not_a_duration() -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        parse_duration_ms(True)


# --- backoff -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind", "delays"), [
    ("immediate", "immediate", ()),
    ("exponential", "exponential", ()),
    ("fixed:250", "fixed", (250,)),
    ("sequence:100,500,2000", "sequence", (100, 500, 2000)),
    (" Sequence: 100, 500 ", "sequence", (100, 500)),
    ("fixed:0", "fixed", (0,)),
])
def test_backoff_parses_all_four_forms(text: str, kind: str, delays: tuple[int, ...]) -> None:
    backoff = Backoff.parse(text)
    assert (backoff.kind, backoff.delays_ms) == (kind, delays)
    assert Backoff.parse(str(backoff)) == backoff


@pytest.mark.parametrize("text", ["linear", "immediate:5", "exponential:2", "fixed:", "fixed",
                                  "fixed:abc", "fixed:-5", "sequence:", "sequence:1,x", ""])
def test_a_bad_backoff_lists_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a backoff; use immediate, fixed:<ms>, "
                                         r"exponential or sequence:<ms,ms,\.\.\.>"):
        Backoff.parse(text)


def test_fixed_backoff_takes_exactly_one_delay() -> None:
    with pytest.raises(ValueError, match="fixed takes one delay, e.g. fixed:500"):
        Backoff.parse("fixed:100,200")


def test_immediate_and_fixed_delays_do_not_grow() -> None:
    assert [Backoff.parse("immediate").delay_ms(n) for n in (1, 2, 9)] == [0, 0, 0]
    assert [Backoff.parse("fixed:250").delay_ms(n) for n in (1, 2, 9)] == [250, 250, 250]


def test_sequence_backoff_repeats_its_last_delay() -> None:
    backoff = Backoff.parse("sequence:100,500,2000")
    assert [backoff.delay_ms(n) for n in (1, 2, 3, 4, 10)] == [100, 500, 2000, 2000, 2000]


def test_exponential_backoff_doubles_from_one_second_up_to_an_hour() -> None:
    backoff = Backoff.parse("exponential")
    assert [backoff.delay_ms(n) for n in (1, 2, 3, 4)] == [1000, 2000, 4000, 8000]
    assert backoff.delay_ms(12) == 2_048_000
    assert backoff.delay_ms(13) == backoff.delay_ms(40) == 3_600_000


def test_error_recovery_defaults_and_parsed_backoff() -> None:
    recovery = define().error_recovery
    assert (recovery.auto_retry_count, recovery.max_retry_count, recovery.on_retry_failure) == (
        0, 3, "manual_only")
    assert recovery.backoff == Backoff(kind="immediate")
    tuned = define(changes="error_recovery: {retry_backoff: 'sequence:1,2'}").error_recovery
    assert tuned.backoff.delays_ms == (1, 2)


# --- validation --------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "message"), [
    ("initial_state: nowhere",
     "initial_state: unknown state 'nowhere'; states are open, working, done, error, cancelled"),
    ("final_states: [done, gone]", "final_states[1]: unknown state 'gone'"),
    ("error_state: oops", "error_state: unknown state 'oops'"),
    ("transitions: [{from: open, event: start, to: working}, {from: limbo, event: x, to: done}]",
     "transitions[1].from: unknown state 'limbo'"),
    ("transitions: [{from: open, event: start, to: limbo}]",
     "transitions[0].to: unknown state 'limbo'"),
    ("transitions: [{from: open, event: start, to: done, guard: has_permission, on_fail: limbo}]",
     "transitions[0].on_fail: unknown state 'limbo'"),
    ("transitions: [{from: open, event: start, to: done, action: {skill: s},"
     " on_action_failure: limbo}]",
     "transitions[0].on_action_failure: unknown state 'limbo'"),
    ("state_timeouts: [{state: limbo, after: 1h, on_timeout: done}]",
     "state_timeouts[0].state: unknown state 'limbo'"),
    ("state_timeouts: [{state: open, after: 1h, on_timeout: limbo}]",
     "state_timeouts[0].on_timeout: unknown state 'limbo'"),
])
def test_an_unknown_state_is_named_with_its_field(changes: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        define(changes=changes)


@pytest.mark.parametrize(("changes", "message"), [
    ("states: [open, working, done, error, cancelled, Open]",
     "states[5]: state 'Open' is listed twice"),
    ("states: [open, working, done, error, cancelled, '*']",
     "states[5]: '*' is not a usable state name"),
    ("states: [open, working, done, error, cancelled, lost]\nfinal_states: [done, lost]",
     "final_states: lost cannot be reached from initial state 'open'"),
    ("transitions: [{from: open, event: start, to: working, on_fail: done}]",
     "transitions[0].on_fail: on_fail needs a guard"),
    ("transitions: [{from: open, event: start, to: done, on_action_failure: error}]",
     "transitions[0].on_action_failure: needs an action"),
    ("transitions: [{from: open, event: start, to: done, guard: is_admin}]",
     "unknown guard 'is_admin'; built-in guards: has_permission, max_retry"),
    ("error_state: null\ntransitions: [{from: open, event: start, to: done},"
     " {from: working, event: resume, to: $last_active}]",
     "transitions[1].to: $last_active needs an error_state"),
    ("final_states: [done, error]", "error_state: the error state cannot also be a final state"),
    ("final_states: [done, open]", "initial_state: the initial state cannot be a final state"),
    ("state_timeouts: [{state: working, after: 1h, on_timeout: done},"
     " {state: Working, after: 2h, on_timeout: done}]",
     "state_timeouts[1].state: 'working' has two timeouts"),
    ("transitions: [{from: open, event: start, to: done, action: {}}]",
     "an action has exactly one of emit or skill"),
])
def test_an_inconsistent_definition_names_the_field_and_the_problem(changes: str,
                                                                    message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        define(changes=changes)
    assert message in str(caught.value)


@pytest.mark.parametrize(("changes", "location"), [
    ("colour: blue", "colour"),
    ("transitions: [{from: open, event: start, to: done, when: later}]", "transitions.0.when"),
    ("state_timeouts: [{state: open, after: 1h, on_timeout: done, alert: x}]",
     "state_timeouts.0.alert"),
    ("error_recovery: {retries: 3}", "error_recovery.retries"),
])
def test_an_unknown_field_is_refused_at_its_location(changes: str, location: str) -> None:
    with pytest.raises(ValidationError) as caught:
        define(changes=changes)
    errors = caught.value.errors()
    assert [(".".join(str(p) for p in e["loc"]), e["type"]) for e in errors] == [
        (location, "extra_forbidden")]


def test_bad_duration_and_backoff_are_refused_at_their_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        define(changes="state_timeouts: [{state: open, after: soon, on_timeout: done}]\n"
                       "error_recovery: {retry_backoff: linear}")
    where = {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}
    assert "'soon' is not a duration" in where["state_timeouts.0.after"]
    assert "'linear' is not a backoff" in where["error_recovery.retry_backoff"]


def test_a_last_active_target_is_allowed_with_an_error_state() -> None:
    definition = define(changes="transitions: [{from: open, event: start, to: done, action:"
                                " {skill: s}}, {from: error, event: resume, to: $LAST_ACTIVE}]")
    assert definition.transitions[1].to == "$last_active"


# --- names -------------------------------------------------------------------------------

def test_state_references_resolve_to_the_spelling_in_states() -> None:
    definition = define("""
        name: mixed
        states: [Draft, InReview, Done, Error, Archived]
        initial_state: draft
        final_states: [DONE, archived]
        error_state: ERROR
        transitions:
          - {from: DRAFT, event: Submit, to: inreview, guard: has_permission, on_fail: Archived}
          - {from: "*", event: FINISH, to: done}
        state_timeouts:
          - {state: inREVIEW, after: 2h, on_timeout: DONE}
        """)
    assert definition.initial_state == "Draft"
    assert definition.final_states == ["Done", "Archived"]
    assert definition.error_state == "Error"
    first, second = definition.transitions
    assert (first.from_state, first.to, first.on_fail, first.event) == (
        "Draft", "InReview", "Archived", "submit")
    assert (second.from_state, second.event) == ("*", "finish")
    assert (definition.state_timeouts[0].state, definition.state_timeouts[0].on_timeout) == (
        "InReview", "Done")
    assert definition.canonical(" inreview ") == "InReview"
    assert definition.canonical("nowhere") is None


def test_states_may_be_written_as_name_mappings() -> None:
    definition = define(changes="states: [{name: open}, {name: working}, {name: done},"
                                " {name: error}, cancelled]")
    assert definition.states == ["open", "working", "done", "error", "cancelled"]


def test_state_names_are_trimmed() -> None:
    assert define(changes="states: [' open', 'working ', done, error, cancelled]").states[:2] == [
        "open", "working"]


# --- the content hash --------------------------------------------------------------------

def test_content_hash_ignores_formatting_key_order_and_spelling_of_references() -> None:
    block = define("""
        # a comment
        name: ticket
        states: [open, working, done, error, cancelled]
        initial_state: open
        final_states: [done, cancelled]
        error_state: error
        transitions:
          - from: open
            event: start
            to: working
          - from: working
            event: finish
            to: done
        """)
    reordered = define("""
        transitions:
          - {to: working, event: START, from: OPEN}
          - {event: finish, from: Working, to: DONE}
        error_state: ERROR
        final_states: [Done, CANCELLED]
        states: [{name: open}, {name: working}, {name: done}, {name: error}, {name: cancelled}]
        initial_state: Open
        name: ticket
        """)
    assert block.content_hash() == reordered.content_hash() == define().content_hash()
    assert len(block.content_hash()) == 64


@pytest.mark.parametrize("changes", [
    "transitions: [{from: open, event: begin, to: working}, {from: working, event: finish,"
    " to: done}]",
    "state_timeouts: [{state: working, after: 1h, on_timeout: done}]",
    "error_recovery: {max_retry_count: 5}",
    "description: something else",
])
def test_content_hash_changes_with_the_meaning(changes: str) -> None:
    assert define(changes=changes).content_hash() != define().content_hash()


def test_to_json_round_trips_to_the_same_definition() -> None:
    definition = define(changes="transitions: [{from: open, event: start, to: working, guard:"
                                " {payload: {ok: true}}, on_fail: cancelled}, {from: '*',"
                                " event: finish, to: done}]")
    body = definition.to_json()
    assert body["transitions"][1]["from"] == "*"
    again = WorkflowDefinition.model_validate(body)
    assert again.content_hash() == definition.content_hash()


# --- lookups -----------------------------------------------------------------------------

def test_transitions_for_lists_specific_transitions_before_wildcards() -> None:
    definition = define(changes="""
        transitions:
          - {from: "*", event: close, to: cancelled}
          - {from: working, event: close, to: done}
          - {from: open, event: start, to: working}
        """)
    in_working = definition.transitions_for("working", " CLOSE ")
    assert [(t.from_state, t.to) for t in in_working] == [("working", "done"), ("*", "cancelled")]
    assert [t.to for t in definition.transitions_for("open", "close")] == ["cancelled"]
    assert definition.transitions_for("open", "finish") == []
    assert definition.events() == ["close", "start"]


def test_timeout_for_and_is_final() -> None:
    definition = define(changes="state_timeouts: [{state: working, after: 90s, on_timeout: done}]")
    timeout = definition.timeout_for("working")
    assert timeout is not None and timeout.after_ms == 90_000
    assert definition.timeout_for("open") is None
    assert definition.is_final("done") and not definition.is_final("working")


def test_error_paths_and_implicit_cancel_make_final_states_reachable() -> None:
    definition = define("""
        name: paths
        states: [start, busy, failed, error, archived, cancelled]
        initial_state: start
        final_states: [failed, archived, cancelled]
        error_state: error
        transitions:
          - {from: start, event: go, to: busy, action: {skill: work}, on_action_failure: failed}
        error_recovery: {on_retry_failure: archive}
        """)
    assert definition.reachable_states() == {"start", "busy", "failed", "error", "archived",
                                             "cancelled"}


@pytest.mark.parametrize("name", ["approval", "incident"])
def test_shipped_example_workflows_validate(name: str) -> None:
    loaded = load_file(EXAMPLES / f"{name}.yaml")
    assert loaded.status == "loaded", loaded.error
    assert loaded.definition is not None and loaded.definition.name == name
    assert loaded.definition.error_state == "error"
