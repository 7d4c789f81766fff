"""The idle scheduler through a real runtime with the scripted provider: it fires after quiet,
user messages cancel it, and quiet hours, the hourly limit and missing skills skip it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time
from typing import Any

import pytest

from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.model import Event
from aman.idle import events as e
from aman.idle.scheduler import RunLimit, in_quiet_hours, is_user_activity
from tests.chat.helpers import create_session, scripted, settle
from tests.helpers import ManualClock, SettingsFactory, runtime_of, wait_for


@asynccontextmanager
async def idle_runtime(make_settings: SettingsFactory, clock: ManualClock | None = None,
                       **idle: Any) -> AsyncIterator[tuple[Runtime, Any, list[Event]]]:
    """A served app with the idle settings given (enabled unless said otherwise), on ``clock``
    when given."""
    overrides = {f"idle.{key}": value for key, value in {"enabled": True, **idle}.items()}
    settings = scripted(make_settings, "Idle reply.", **overrides)
    app = create_app(settings, runtime=Runtime(settings, clock=clock) if clock else None)
    async with app.test_app():
        runtime = runtime_of(app)
        events: list[Event] = []
        runtime.bus.observe(events.append)
        await wait_for(lambda: runtime.ready)
        yield runtime, app.test_client(), events


def of(events: list[Event], event_type: str) -> list[Event]:
    return [event for event in events if event.event_type == event_type]


@pytest.mark.parametrize(("spans", "moment", "quiet"), [
    (["22:00-07:00"], "23:30", True), (["22:00-07:00"], "03:00", True),
    (["22:00-07:00"], "07:00", False), (["22:00-07:00"], "12:00", False),
    (["12:00-13:00"], "12:00", True), (["12:00-13:00"], "13:00", False),
    (["12:00-12:00"], "12:00", False), ([], "12:00", False),
    (["01:00-02:00", "12:00-13:00"], "12:30", True),
])
def test_quiet_hours_may_cross_midnight(spans: list[str], moment: str, quiet: bool) -> None:
    assert in_quiet_hours(spans, time.fromisoformat(moment)) is quiet


def test_the_run_limit_is_a_sliding_hour() -> None:
    limit = RunLimit()
    assert limit.allows(0.0, 2)
    limit.record(0.0)
    limit.record(1000.0)
    assert not limit.allows(3599.0, 2)
    assert limit.allows(3600.0, 2) and limit.recent == 1
    assert not RunLimit().allows(0.0, 0)


def test_only_messages_that_are_not_idle_runs_count_as_activity() -> None:
    def message(sender: str, event_type: str = "message_received") -> Event:
        return Event.create(source="chat:session", event_type=event_type,
                            payload={"sender": sender})

    assert is_user_activity(message("api"))
    assert is_user_activity(Event.create(source="im:telegram:bot", event_type="message_received",
                                         payload={"text": "hi"}))
    assert not is_user_activity(message(e.IDLE_OPERATOR))
    assert not is_user_activity(message("api", "agent:reply_ready"))


async def test_disabled_means_no_task(make_settings: SettingsFactory) -> None:
    async with idle_runtime(make_settings, enabled=False) as (runtime, _, _events):
        assert "idle:scheduler" not in runtime.tasks.running
        assert "idle:run_started" in {t["event_type"] for t in runtime.event_types.listing()}


async def test_it_runs_an_idle_skill_in_a_background_session_after_quiet(
        make_settings: SettingsFactory) -> None:
    async with idle_runtime(make_settings, after_sec=0.2) as (runtime, client, events):
        assert "idle:scheduler" in runtime.tasks.running
        await wait_for(lambda: bool(of(events, e.RUN_STARTED)))
        started = of(events, e.RUN_STARTED)[0]
        assert started.source == e.SCHEDULER_SOURCE
        assert started.payload["trigger"] == "scheduler"
        assert started.payload["tag"] in ("study", "fun")  # work: no work queue configured
        assert started.payload["session_type"] == "background"
        state = await settle(client, started.payload["session_id"])
        assert state["messages"][0]["content"].startswith("[IDLE ACTION]")
        assert state["messages"][1]["content"] == "Idle reply."
    assert "idle:scheduler" not in runtime.tasks.running


async def test_a_chat_message_cancels_the_pending_run(make_settings: SettingsFactory) -> None:
    clock, after = ManualClock(), 60.0
    async with idle_runtime(make_settings, clock, after_sec=after) as (_runtime, client, events):
        await wait_for(lambda: after in clock.slept, what="the scheduler to wait after_sec")
        clock.advance(after / 2)
        session = await create_session(client)
        response = await client.post(f"/chat/session/{session['id']}/send",
                                     json={"text": "still here"})
        assert response.status_code == 202
        await wait_for(lambda: of(events, e.CANCELLED), what="the pending run to be cancelled")
        cancelled = of(events, e.CANCELLED)[-1]
        assert cancelled.payload["reason"] == "user_activity"
        assert cancelled.payload["activity_source"] == "chat:session"
        # The next run waits after_sec counted from the message, not from the first wait.
        await wait_for(lambda: after / 2 + after in clock.deadlines,
                       what="the next run to be due after_sec after the message")
        assert not of(events, e.RUN_STARTED)
        clock.advance(after)
        await wait_for(lambda: of(events, e.RUN_STARTED), what="the run after quiet")


async def test_decisions_it_skips_are_events(make_settings: SettingsFactory) -> None:
    async with idle_runtime(make_settings, after_sec=0.05, max_runs_per_hour=1) as (
            _runtime, _client, events):
        await wait_for(lambda: any(s.payload["reason"] == "rate_limited"
                                     for s in of(events, e.SKIPPED)))
        assert len(of(events, e.RUN_STARTED)) == 1
        assert not of(events, e.CANCELLED)  # its own run's message is not user activity
    async with idle_runtime(make_settings, after_sec=0.05,
                            quiet_hours=["00:00-23:59", "23:59-00:00"]) as (_, _client, events):
        await wait_for(lambda: bool(of(events, e.SKIPPED)))
        assert of(events, e.SKIPPED)[0].payload["reason"] == "quiet_hours"
        assert not of(events, e.RUN_STARTED)
    async with idle_runtime(make_settings, after_sec=0.05, weights={"work": 1.0, "nap": 2.0}) as (
            _, _client, events):
        await wait_for(lambda: bool(of(events, e.SKIPPED)))
        skipped = of(events, e.SKIPPED)[0].payload
        assert skipped["reason"] == "no_skill" and skipped["available"] == ["fun", "study"]
    async with idle_runtime(make_settings, after_sec=0.05, agent_id="ghost") as (
            _, _client, events):
        await wait_for(lambda: bool(of(events, e.RUN_FAILED)))
        assert of(events, e.RUN_FAILED)[0].payload["code"] == "agent_unavailable"


async def test_runs_never_pile_up_behind_a_slow_reply(make_settings: SettingsFactory) -> None:
    """With a model slower than after_sec, the next run waits for the last one's reply: idle runs
    do not queue up and crowd out a run asked for by hand."""
    app = create_app(scripted(make_settings, "Idle reply.", first_token_ms=1500,
                              **{"idle.enabled": True, "idle.after_sec": 0.1}))
    async with app.test_app():
        runtime = runtime_of(app)
        events: list[Event] = []
        runtime.bus.observe(events.append)
        await wait_for(lambda: bool(of(events, e.RUN_STARTED)), timeout=10)
        loop = asyncio.get_running_loop()
        first_seen = loop.time()
        await wait_for(lambda: bool(of(events, e.RUN_FINISHED)), timeout=15)
        finished_at = loop.time()
        # Nothing else started while the first reply was being written (1.5 s of 0.1 s quiet).
        assert len(of(events, e.RUN_STARTED)) == 1, (first_seen, finished_at)
        # The next one comes after_sec after that reply, and a manual run is answered meanwhile.
        await wait_for(lambda: len(of(events, e.RUN_STARTED)) >= 2, timeout=10)
        finished = of(events, e.RUN_FINISHED)[0].payload
        assert finished["status"] == "complete"
