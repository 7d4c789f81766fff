"""CronService on a real runtime with an injected clock: catch-up, failures, config jobs.

The clock sits in 2031, so APScheduler's real-time firings (in the present) are always older than
a job's handled mark and are ignored; only what the test's clock says is missed gets fired.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from aman.core.runtime import Runtime
from aman.cron.changes import new_job
from aman.cron.model import CatchUp, CronJobChanges, CronJobSpec, CronRun, Origin, Outcome
from aman.errors import BackpressureError
from aman.events.model import Event
from tests.helpers import ManualClock, SettingsFactory, wait_for

HOUR_MS = 3_600_000
START = datetime(2031, 3, 4, 7, 30, tzinfo=UTC)


def start_clock() -> ManualClock:
    """Wall time set by the test; durations (rate limits, boot timings) on real time."""
    return ManualClock(int(START.timestamp() * 1000), real_monotonic=True)


Factory = Callable[..., Runtime]


@pytest.fixture
async def make_runtime(make_settings: SettingsFactory) -> AsyncIterator[Factory]:
    """Runtimes on the same runtime dir, each started; all stopped at the end."""
    built: list[Runtime] = []

    def build(clock: ManualClock, **overrides: Any) -> Runtime:
        rt = Runtime(make_settings(**overrides), clock=clock)
        built.append(rt)
        return rt

    yield build
    for rt in built:
        await rt.stop()


async def runs(rt: Runtime, job_id: str) -> list[CronRun]:
    return await rt.cron.runs(job_id, limit=50)


async def down_for(rt: Runtime, clock: ManualClock, hours: float) -> None:
    await rt.stop()
    clock.now += int(hours * HOUR_MS)
    await rt.start()


async def test_catch_up_latest_fires_the_most_recent_missed_run_once(make_runtime: Factory) -> None:
    clock = start_clock()
    rt = make_runtime(clock)
    await rt.start()
    await rt.cron.add(CronJobSpec(id="hourly", expression="0 * * * *"))
    assert await runs(rt, "hourly") == []
    await down_for(rt, clock, 4.75)  # 07:30 -> 12:15: 08:00 .. 12:00 missed
    fired, skipped = await runs(rt, "hourly")
    assert fired.outcome is Outcome.OK and fired.catch_up
    assert fired.scheduled_at_ms == int(START.replace(hour=12, minute=0).timestamp() * 1000)
    assert skipped.outcome is Outcome.SKIPPED and skipped.count == 4 and skipped.catch_up
    assert "only the latest was fired" in (skipped.note or "")
    dump = await rt.event_log.get(fired.event_id or "")
    assert dump is not None
    event = dump["event"]
    assert event["source"] == "cron:hourly" and event["event_type"] == "cron_tick"
    assert event["payload"]["cron"]["catch_up"] is True
    assert event["payload"]["cron"]["scheduled_at"] == "2031-03-04T12:00:00+00:00"
    assert rt.cron.get("hourly").last_outcome == "ok"
    await down_for(rt, clock, 0)  # a restart without a due time adds nothing
    assert len(await runs(rt, "hourly")) == 2


async def test_catch_up_skip_records_and_fires_nothing(make_runtime: Factory) -> None:
    clock = start_clock()
    rt = make_runtime(clock)
    await rt.start()
    await rt.cron.add(CronJobSpec(id="quiet", expression="0 * * * *", catch_up=CatchUp.SKIP))
    await down_for(rt, clock, 3)
    (only,) = await runs(rt, "quiet")
    assert (only.outcome, only.count, only.event_id) == (Outcome.SKIPPED, 3, None)
    assert "catch_up is skip" in (only.note or "")
    assert rt.cron.get("quiet").last_outcome is None
    await down_for(rt, clock, 0)
    assert len(await runs(rt, "quiet")) == 1  # the mark moved past them


async def test_catch_up_all_is_bounded_by_max_catch_up(make_runtime: Factory) -> None:
    clock = start_clock()
    rt = make_runtime(clock, **{"cron.max_catch_up": 3})
    await rt.start()
    await rt.cron.add(CronJobSpec(id="every", expression="0 * * * *", catch_up=CatchUp.ALL))
    await down_for(rt, clock, 5)  # 08:00 .. 12:00
    items = await runs(rt, "every")
    fired = [r for r in items if r.outcome is Outcome.OK]
    assert [datetime.fromtimestamp(r.scheduled_at_ms / 1000, UTC).hour
            for r in fired] == [12, 11, 10]
    (skipped,) = [r for r in items if r.outcome is Outcome.SKIPPED]
    assert skipped.count == 2 and "cron.max_catch_up = 3" in (skipped.note or "")


async def test_a_refused_firing_is_recorded_failed_notified_and_caught_up_later(
    make_runtime: Factory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = start_clock()
    rt = make_runtime(clock)
    await rt.start()
    await rt.cron.add(CronJobSpec(id="busy", expression="0 * * * *"))
    publish = rt.bus.publish

    async def refuse_cron(event: Event, *, internal: bool = False) -> Any:
        if event.source.startswith("cron:") and not internal:  # facts skip backpressure
            raise BackpressureError("the event queue is l3 (9000/10000); not accepted")
        return await publish(event, internal=internal)

    monkeypatch.setattr(rt.bus, "publish", refuse_cron)
    await down_for(rt, clock, 2)
    failed = (await runs(rt, "busy"))[0]
    assert failed.outcome is Outcome.FAILED and failed.event_id is None
    assert failed.error and failed.error.startswith("backpressure:")
    assert rt.cron.get("busy").last_outcome == "failed"

    async def cron_notes() -> list[Any]:  # the cron.failed fact becomes one through the bus
        return [n for n in await rt.notifications.list() if n.category == "cron"]

    notes = await wait_for(cron_notes, what="a cron notification")
    assert "busy" in notes[0].title and "backpressure" in notes[0].message
    monkeypatch.setattr(rt.bus, "publish", publish)
    await down_for(rt, clock, 0)  # the failed time was never handled: caught up now
    newest = (await runs(rt, "busy"))[0]
    assert newest.outcome is Outcome.OK and newest.scheduled_at_ms == failed.scheduled_at_ms


async def test_config_jobs_are_merged_by_id_and_the_file_wins(make_runtime: Factory) -> None:
    clock = start_clock()
    job = {"id": "static", "expression": "0 6 * * *", "payload": {"from": "file"}}
    rt = make_runtime(clock, **{"cron.jobs": [job]})
    await rt.start()
    (listed,) = rt.cron.listing()
    assert listed["origin"] == "config" and listed["payload"] == {"from": "file"}
    await rt.cron.update("static", CronJobChanges(expression="0 7 * * *"))
    assert rt.cron.get("static").expression == "0 7 * * *"
    await rt.cron.add(CronJobSpec(id="mine", expression="0 8 * * *"))
    await rt.stop()

    again = make_runtime(clock, **{"cron.jobs": [job]})
    await again.start()
    assert again.cron.get("static").expression == "0 6 * * *"  # reset from the file
    assert again.cron.get("mine").origin.value == "api"
    await again.stop()

    gone = make_runtime(clock, **{"cron.jobs": []})
    await gone.start()
    assert [j["id"] for j in gone.cron.listing()] == ["mine"]


async def test_an_update_that_changes_nothing_keeps_the_job(make_runtime: Factory) -> None:
    rt = make_runtime(start_clock())
    await rt.start()
    added = await rt.cron.add(CronJobSpec(id="same", expression="0 * * * *"))
    old, new = await rt.cron.update("same", CronJobChanges(expression="0 * * * *"))
    assert old is new and new.updated_at_ms == added.updated_at_ms


async def test_no_scheduler_runs_without_enabled_jobs(make_runtime: Factory) -> None:
    rt = make_runtime(start_clock())
    await rt.start()
    await rt.cron.add(CronJobSpec(id="off", expression="* * * * *", enabled=False))
    assert rt.cron.next_run_ms("off") is None
    await rt.cron.update("off", CronJobChanges(enabled=True))
    await wait_for(lambda: rt.cron.next_run_ms("off") is not None)


async def test_a_time_published_before_is_recorded_as_duplicate(make_runtime: Factory) -> None:
    clock = start_clock()
    rt = make_runtime(clock)
    await rt.start()
    await rt.cron.add(CronJobSpec(id="twice", expression="0 * * * *"))
    noon_ms = int(START.replace(hour=12, minute=0).timestamp() * 1000)
    # As if the daemon died between publishing 12:00 and recording it.
    first = await rt.bus.publish(Event.create(source="cron:twice", event_type="cron_tick",
                                              dedup_key=f"cron:twice:{noon_ms}"))
    await down_for(rt, clock, 4.75)
    newest = (await runs(rt, "twice"))[0]
    assert newest.outcome is Outcome.DUPLICATE and newest.event_id == first.event.id
    assert newest.scheduled_at_ms == noon_ms


async def test_late_due_times_fire_the_latest_and_record_the_rest(make_runtime: Factory) -> None:
    rt = make_runtime(start_clock())
    await rt.start()
    await rt.cron.add(CronJobSpec(id="late", expression="0 * * * *"))
    due = [START.replace(hour=h, minute=0) for h in (8, 9, 10)]
    rt.cron._on_due("late", due)  # what APScheduler hands over after a stall
    await wait_for(lambda: rt.cron.get("late").last_outcome == "ok")
    await rt.writer.flush()  # the job's state is updated before its run row commits
    fired, skipped = await runs(rt, "late")
    assert fired.outcome is Outcome.OK and not fired.catch_up
    assert fired.scheduled_at_ms == int(due[-1].timestamp() * 1000)
    assert skipped.outcome is Outcome.SKIPPED and skipped.count == 2


async def test_jobs_another_daemon_stored_are_taken_in_by_refresh(make_runtime: Factory) -> None:
    # A daemon sharing the store added, changed and removed jobs: the one timing them follows.
    rt = make_runtime(start_clock())
    await rt.start()
    await rt.cron.add(CronJobSpec(id="doomed", expression="0 * * * *"))
    made = new_job(CronJobSpec(id="elsewhere", expression="0 * * * *"), Origin.API,
                   rt.clock.now_ms(), "UTC")
    await rt.store.cron.save(made)
    await rt.store.cron.delete("doomed")
    await rt.cron.refresh()
    assert [j["id"] for j in rt.cron.listing()] == ["elsewhere"]
    await wait_for(lambda: rt.cron.next_run_ms("elsewhere") is not None)
    hourly = rt.cron.next_run_ms("elsewhere")
    await rt.store.cron.save(replace(made, expression="*/5 * * * *"))
    await rt.cron.refresh()
    assert rt.cron.get("elsewhere").expression == "*/5 * * * *"
    await wait_for(lambda: rt.cron.next_run_ms("elsewhere") != hourly)


async def test_a_daemon_not_leading_cron_keeps_jobs_but_times_none(make_runtime: Factory) -> None:
    rt = make_runtime(start_clock())
    await rt.start()
    await rt.cluster.withdraw("cron")  # as on a daemon another one leads cron for
    await rt.cron.add(CronJobSpec(id="edited-here", expression="* * * * *"))
    assert rt.cron.get("edited-here").enabled and rt.cron.next_run_ms("edited-here") is None
    await rt.cron.start()  # this daemon becomes the leader
    await wait_for(lambda: rt.cron.next_run_ms("edited-here") is not None)
