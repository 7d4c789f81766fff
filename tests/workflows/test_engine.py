"""The workflow engine inside a real runtime: SQLite, the bus, skills, timers and restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.workflows.engine import InvalidTransitionError
from tests.helpers import ManualClock, SettingsFactory, runtime_of, wait_for

FLOW = """
name: review
states: [draft, reviewing, done, rejected, error, archived, cancelled]
initial_state: draft
final_states: [done, rejected, archived, cancelled]
error_state: error
transitions:
  - {from: draft, event: submit, to: reviewing, guard: {payload: {complete: true}},
     on_fail: rejected}
  - from: reviewing
    event: approve
    to: done
    action: {skill: notify}
  - {from: reviewing, event: bounce, to: draft}
state_timeouts:
  - {state: reviewing, after: 300ms, on_timeout: rejected}
error_recovery: {max_retry_count: 2, on_retry_failure: archive}
start_on:
  - {event: review_requested, match: {kind: doc}}
"""

NOTIFY = """
name: notify
triggers: [{event_types: [never_sent]}]
actions: [{emit: {event_type: reviewer_notified, payload: {who: "{{ payload.by }}"}}}]
"""


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    workflows, skills = tmp_path / "workflows", tmp_path / "skills"
    workflows.mkdir()
    skills.mkdir()
    (workflows / "review.yaml").write_text(FLOW)
    (skills / "notify.yaml").write_text(NOTIFY)
    return workflows, skills


def _settings(make_settings: SettingsFactory, folders: tuple[Path, Path]) -> Any:
    return make_settings(**{"workflows.dirs": [str(folders[0])],
                            "skills.dirs": [str(folders[1])]})


@pytest.fixture
async def wf_app(make_settings: SettingsFactory,
                 folders: tuple[Path, Path]) -> AsyncIterator[Quart]:
    application = create_app(_settings(make_settings, folders))
    async with application.test_app():
        await wait_for(lambda: runtime_of(application).ready)
        yield application


@pytest.fixture
def rt(wf_app: Quart) -> Runtime:
    return runtime_of(wf_app)


async def send(rt: Runtime, instance_id: str, event_type: str, **payload: Any) -> Event:
    event = Event.create(source="test:ui", event_type=event_type,
                         payload={"workflow_instance_id": instance_id, **payload})
    await rt.bus.publish(event)
    await rt.bus.wait_idle()
    await rt.writer.flush()
    return event


async def state_of(rt: Runtime, instance_id: str) -> str:
    return (await rt.workflows.get(instance_id)).state


async def wait_for_state(rt: Runtime, instance_id: str, state: str) -> None:
    async def reached() -> bool:
        return await state_of(rt, instance_id) == state

    await wait_for(reached, what=f"{instance_id} to reach {state}")


async def test_events_walk_an_instance_and_every_move_is_persisted_and_announced(
        rt: Runtime) -> None:
    changes: list[Event] = []

    async def collect(event: Event) -> None:
        changes.append(event)

    rt.bus.subscribe("t", collect, EventFilter(event_types=frozenset({"workflow_state_changed",
                                                                      "reviewer_notified"})))
    instance = await rt.workflows.create("review", {"title": "Q3 report"})
    await send(rt, instance.id, "submit", complete=True)
    await send(rt, instance.id, "APPROVE", by="ana")  # event names are case-insensitive
    await wait_for(lambda: len(changes) == 4)
    stored = await rt.workflows.get(instance.id)
    assert stored.state == "done" and stored.status == "finished" and stored.wake_at is None
    assert [(h.from_state, h.to_state, h.reason) for h in stored.history] == [
        (None, "draft", "created"), ("draft", "reviewing", "event"),
        ("reviewing", "done", "event")]
    moves = [e.payload for e in changes if e.event_type == "workflow_state_changed"]
    assert [(m["from"], m["to"], m["is_final"]) for m in moves] == [
        (None, "draft", False), ("draft", "reviewing", False), ("reviewing", "done", True)]
    notified = [e for e in changes if e.event_type == "reviewer_notified"]
    assert notified[0].payload == {"who": "ana"}


async def test_guard_rejection_takes_on_fail_and_a_missing_transition_is_only_traced(
        rt: Runtime) -> None:
    rejected = await rt.workflows.create("review", {})
    await send(rt, rejected.id, "submit", complete=False)
    assert await state_of(rt, rejected.id) == "rejected"
    other = await rt.workflows.create("review", {})
    stray = await send(rt, other.id, "approve")
    assert await state_of(rt, other.id) == "draft"
    _, steps = await rt.event_log.trace(stray.trace_id)
    refused = [s for s in steps if s["step"] == "workflow:no_transition"]
    assert refused and "accepts: submit" in refused[0]["detail"]["message"]
    assert rt.bus.stats.dead_lettered == 0


async def test_action_failure_enters_error_and_retry_replays_once_the_cause_is_fixed(
        rt: Runtime) -> None:
    await rt.skills.set_enabled("notify", False)
    instance = await rt.workflows.create("review", {})
    await send(rt, instance.id, "submit", complete=True)
    await send(rt, instance.id, "approve", by="bo")
    failed = await rt.workflows.get(instance.id)
    assert failed.state == "error" and failed.last_active_state == "reviewing"
    assert "disabled" in (failed.last_error or "") and failed.failed_event is not None
    await wait_for(lambda: rt.notifications.unread_count_cached >= 1)
    await rt.skills.set_enabled("notify", True)
    before, result = await rt.workflows.retry(instance.id, operator="ops")
    assert before == "error" and result.instance.state == "done"
    assert [e.reason for e in result.entries] == ["retry", "event"]
    assert result.instance.total_retry_count == 1 and result.instance.failed_event is None


async def test_retry_budget_then_archive_and_control_outside_error_is_refused(
        rt: Runtime) -> None:
    await rt.skills.set_enabled("notify", False)
    instance = await rt.workflows.create("review", {})
    with pytest.raises(InvalidTransitionError, match="current state: 'draft'"):
        await rt.workflows.retry(instance.id, operator="ops")
    await send(rt, instance.id, "submit", complete=True)
    await send(rt, instance.id, "approve")
    for _ in range(2):  # each retry replays the still failing action: back to error
        _, result = await rt.workflows.retry(instance.id, operator="ops")
        assert result.instance.state == "error"
    _, result = await rt.workflows.retry(instance.id, operator="ops")
    assert result.instance.state == "archived" and result.entries[0].reason == "retry_exceeded"
    with pytest.raises(InvalidTransitionError):
        await rt.workflows.cancel(instance.id, operator="ops")


async def test_cancel_moves_to_the_cancelled_state(rt: Runtime) -> None:
    instance = await rt.workflows.create("review", {})
    before, result = await rt.workflows.cancel(instance.id, operator="ops")
    assert (before, result.instance.state, result.entries[0].reason) == (
        "draft", "cancelled", "cancel")


async def test_state_timeout_fires_through_the_bus(rt: Runtime) -> None:
    instance = await rt.workflows.create("review", {})
    await send(rt, instance.id, "submit", complete=True)
    stored = await rt.workflows.get(instance.id)
    assert stored.wake_kind == "timeout" and stored.wake_at is not None
    await wait_for_state(rt, instance.id, "rejected")
    final = await rt.workflows.get(instance.id)
    assert final.state == "rejected" and final.history[-1].reason == "timeout"


async def test_start_on_creates_one_instance_per_event_even_when_redelivered(
        rt: Runtime) -> None:
    trigger = Event.create(source="test:ui", event_type="review_requested",
                           payload={"kind": "doc", "title": "spec"})
    await rt.bus.publish(trigger)
    await rt.bus.publish(Event.create(source="test:ui", event_type="review_requested",
                                      payload={"kind": "image"}))
    await rt.bus.wait_idle()
    await rt.workflows.handle(trigger)  # as a redelivery after a crash would
    await rt.writer.flush()
    items, _ = await rt.workflows.page(workflow="review", state=None, after=None, limit=10)
    assert len(items) == 1 and items[0].data == {"kind": "doc", "title": "spec"}
    assert items[0].started_by == f"event:{trigger.id}"


async def test_redelivered_event_moves_the_instance_once(rt: Runtime) -> None:
    instance = await rt.workflows.create("review", {})
    event = await send(rt, instance.id, "submit", complete=True)
    await send(rt, instance.id, "bounce")
    await rt.workflows.handle(event)  # the first submit again: already applied
    assert await state_of(rt, instance.id) == "draft"


async def test_an_instance_keeps_its_definition_version_when_the_file_changes(
        rt: Runtime, folders: tuple[Path, Path]) -> None:
    old = await rt.workflows.create("review", {})
    (folders[0] / "review.yaml").write_text(
        FLOW.replace("event: bounce, to: draft", "event: bounce, to: rejected"))
    await rt.workflows.reload()
    new = await rt.workflows.create("review", {})
    assert (old.definition_version, new.definition_version) == (1, 2)
    for instance in (old, new):
        await send(rt, instance.id, "submit", complete=True)
        await send(rt, instance.id, "bounce")
    assert (await state_of(rt, old.id), await state_of(rt, new.id)) == ("draft", "rejected")


async def test_invalid_file_is_listed_with_its_error_and_the_others_load(
        rt: Runtime, folders: tuple[Path, Path]) -> None:
    (folders[0] / "broken.yaml").write_text("name: broken\nstates: [a]\ninitial_state: b\n")
    await rt.workflows.reload()
    listing = {item["name"]: item for item in rt.workflows.listing()}
    assert listing["review"]["status"] == "loaded"
    assert listing["broken"]["status"] == "invalid"
    assert "broken.yaml" in listing["broken"]["error"]
    assert "initial_state: unknown state 'b'" in listing["broken"]["error"]


async def test_a_skill_workflow_action_starts_an_instance(rt: Runtime,
                                                          folders: tuple[Path, Path]) -> None:
    (folders[1] / "starter.yaml").write_text(
        "name: starter\ntriggers: [{event_types: [kick]}]\n"
        "actions: [{workflow: {name: review, input: {title: '{{ payload.title }}'}}}]\n")
    await rt.skills.reload()
    await rt.bus.publish(Event.create(source="test:ui", event_type="kick",
                                      payload={"title": "from a skill"}))
    await rt.bus.wait_idle()
    await rt.writer.flush()
    items, _ = await rt.workflows.page(workflow="review", state="draft", after=None, limit=10)
    assert [i.data for i in items] == [{"title": "from a skill"}]


async def test_overdue_timer_fires_after_a_restart(make_settings: SettingsFactory,
                                                   folders: tuple[Path, Path]) -> None:
    settings = _settings(make_settings, folders)
    clock = ManualClock(real_monotonic=True)
    first = create_app(settings, runtime=Runtime(settings, clock=clock))
    async with first.test_app():
        rt = runtime_of(first)
        await wait_for(lambda: rt.ready)
        instance = await rt.workflows.create("review", {})
        await send(rt, instance.id, "submit", complete=True)
        await rt.workflows.stop_timers()  # the daemon goes down before the timeout is due
    clock.advance(1)  # down for longer than the 300 ms timeout
    second = create_app(settings, runtime=Runtime(settings, clock=clock))
    async with second.test_app():
        rt = runtime_of(second)
        await wait_for(lambda: rt.ready)
        await wait_for_state(rt, instance.id, "rejected")
        final = await rt.workflows.get(instance.id)
        assert final.state == "rejected" and final.history[-1].reason == "timeout"


async def test_auto_retries_follow_the_backoff_then_leave_the_instance_in_error(
        rt: Runtime, folders: tuple[Path, Path]) -> None:
    (folders[0] / "auto.yaml").write_text(
        FLOW.replace("name: review", "name: auto").replace(
            "error_recovery: {max_retry_count: 2, on_retry_failure: archive}",
            "error_recovery: {auto_retry_count: 2, max_retry_count: 5, "
            "retry_backoff: 'sequence:50,100'}").replace("after: 300ms", "after: 7d"))
    await rt.workflows.reload()
    await rt.skills.set_enabled("notify", False)
    instance = await rt.workflows.create("auto", {})
    await send(rt, instance.id, "submit", complete=True)
    await send(rt, instance.id, "approve")

    async def settled() -> bool:
        found = await rt.workflows.get(instance.id)
        return found.state == "error" and found.auto_retry_attempts == 2 and found.wake_at is None

    await wait_for(settled, what="the auto-retries to settle in error")
    history = (await rt.workflows.get(instance.id)).history
    reasons = [h.reason for h in history]
    assert reasons == ["created", "event", "action_failed", "auto_retry", "action_failed",
                       "auto_retry", "action_failed"]
    gaps = [b.at - a.at for a, b in zip(history, history[1:], strict=False)
            if b.reason == "auto_retry"]
    assert gaps[0] >= 50 and gaps[1] >= 100


async def test_one_event_starts_one_instance_of_each_matching_workflow(
        rt: Runtime, folders: tuple[Path, Path]) -> None:
    (folders[0] / "twin.yaml").write_text(FLOW.replace("name: review", "name: twin"))
    await rt.workflows.reload()
    trigger = Event.create(source="test:ui", event_type="review_requested",
                           payload={"kind": "doc"})
    await rt.bus.publish(trigger)
    await rt.bus.wait_idle()
    await rt.workflows.handle(trigger)
    await rt.writer.flush()
    items, _ = await rt.workflows.page(workflow=None, state=None, after=None, limit=10)
    assert sorted(i.workflow for i in items) == ["review", "twin"]
