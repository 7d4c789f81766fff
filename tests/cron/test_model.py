"""The pure parts of cron: expressions, time zones, weekday numbering, catch-up planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from aman.cron.model import (
    CatchUp,
    CronJob,
    CronJobChanges,
    CronJobSpec,
    InvalidCronExpressionError,
    InvalidTimezoneError,
    Origin,
    build_trigger,
    cron_fields,
    dedup_key,
    firing_payload,
    plan_catch_up,
    resolve_timezone,
)
from aman.events.model import Priority

UTC = UTC
NOW = datetime(2031, 3, 4, 12, 0, 30, tzinfo=UTC)


def test_five_fields_get_second_zero_and_six_fields_start_with_seconds() -> None:
    assert cron_fields("*/5 * * * *") == {"second": "0", "minute": "*/5", "hour": "*",
                                          "day": "*", "month": "*", "day_of_week": "*"}
    assert cron_fields("*/2 0 12 1 6 *")["second"] == "*/2"


@pytest.mark.parametrize("expression", ["", "* * *", "* * * * * * *"])
def test_other_field_counts_are_refused_saying_how_many(expression: str) -> None:
    with pytest.raises(InvalidCronExpressionError) as caught:
        cron_fields(expression)
    assert f"has {len(expression.split())} field(s); expected 5" in str(caught.value)
    assert caught.value.code == "invalid_cron_expression"


@pytest.mark.parametrize(("field", "expected"), [
    ("1-5", "mon,tue,wed,thu,fri"), ("0", "sun"), ("7", "sun"), ("*/2", "sun,tue,thu,sat"),
    ("0-6", "*"), ("mon-fri", "mon-fri"), ("sat,0", "sun,sat"), ("5-7", "sun,fri,sat"),
])
def test_day_of_week_numbers_follow_crontab(field: str, expected: str) -> None:
    assert cron_fields(f"0 9 * * {field}")["day_of_week"] == expected


@pytest.mark.parametrize("field", ["8", "5-2", "*/0"])
def test_bad_day_of_week_numbers_are_refused(field: str) -> None:
    with pytest.raises(InvalidCronExpressionError, match="day-of-week"):
        cron_fields(f"0 9 * * {field}")


def test_weekdays_fire_on_monday_to_friday() -> None:
    trigger = build_trigger("0 9 * * 1-5", "UTC", NOW)
    friday = datetime(2031, 3, 7, 9, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(friday, friday) == datetime(2031, 3, 10, 9, 0, tzinfo=UTC)


def test_a_bad_field_is_named_with_apschedulers_reason() -> None:
    with pytest.raises(InvalidCronExpressionError) as caught:
        build_trigger("61 * * * *", "UTC", NOW)
    message = str(caught.value)
    assert "minute field '61'" in message and "higher than the maximum" in message


def test_an_expression_that_never_fires_is_refused() -> None:
    with pytest.raises(InvalidCronExpressionError, match="never fires"):
        build_trigger("0 0 30 2 *", "UTC", NOW)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "utc"])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidTimezoneError) as caught:
        resolve_timezone(name)
    assert caught.value.code == "invalid_timezone"


def test_the_trigger_runs_in_the_jobs_time_zone() -> None:
    trigger = build_trigger("0 9 * * *", "Europe/Berlin", NOW)
    assert trigger.get_next_fire_time(None, NOW) == datetime(2031, 3, 5, 8, 0, tzinfo=UTC)


def test_specs_reserve_the_cron_payload_key_and_empty_changes_change_nothing() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        CronJobSpec(id="a", expression="* * * * *", payload={"cron": 1})
    assert CronJobChanges().changes() == {}
    with pytest.raises(ValidationError):
        CronJobSpec(id="has space", expression="* * * * *")
    assert CronJobChanges(enabled=False).changes() == {"enabled": False}


# --- catch-up ----------------------------------------------------------------------------------

HOURLY = build_trigger("0 * * * *", "UTC", NOW)
DOWN_SINCE = datetime(2031, 3, 4, 7, 30, tzinfo=UTC)  # missed 08:00 .. 12:00 = 5 runs


def test_nothing_missed_plans_nothing() -> None:
    plan = plan_catch_up(HOURLY, CatchUp.ALL, after=NOW - timedelta(seconds=20), now=NOW,
                         max_catch_up=10)
    assert not plan.missed and plan.fire == () and plan.skipped == 0


def test_skip_fires_none_and_counts_them() -> None:
    plan = plan_catch_up(HOURLY, CatchUp.SKIP, after=DOWN_SINCE, now=NOW, max_catch_up=10)
    assert plan.fire == () and plan.skipped == 5 and plan.exact
    assert plan.first_missed == datetime(2031, 3, 4, 8, tzinfo=UTC)
    assert plan.last_missed == datetime(2031, 3, 4, 12, tzinfo=UTC)


def test_latest_fires_only_the_most_recent() -> None:
    plan = plan_catch_up(HOURLY, CatchUp.LATEST, after=DOWN_SINCE, now=NOW, max_catch_up=10)
    assert plan.fire == (datetime(2031, 3, 4, 12, tzinfo=UTC),) and plan.skipped == 4


def test_all_fires_each_up_to_the_bound_keeping_the_most_recent() -> None:
    plan = plan_catch_up(HOURLY, CatchUp.ALL, after=DOWN_SINCE, now=NOW, max_catch_up=3)
    assert [t.hour for t in plan.fire] == [10, 11, 12] and plan.skipped == 2
    everything = plan_catch_up(HOURLY, CatchUp.ALL, after=DOWN_SINCE, now=NOW, max_catch_up=100)
    assert len(everything.fire) == 5 and everything.skipped == 0


def test_the_handled_time_itself_is_not_missed() -> None:
    plan = plan_catch_up(HOURLY, CatchUp.ALL, after=datetime(2031, 3, 4, 12, tzinfo=UTC),
                         now=NOW, max_catch_up=10)
    assert not plan.missed


def test_a_long_stop_of_a_dense_job_is_bounded() -> None:
    every_second = build_trigger("* * * * * *", "UTC", NOW)
    plan = plan_catch_up(every_second, CatchUp.ALL, after=NOW - timedelta(days=30), now=NOW,
                         max_catch_up=4, count_limit=500)
    assert not plan.exact and plan.skipped == 500
    assert [NOW - t for t in plan.fire] == [timedelta(seconds=s) for s in (3, 2, 1, 0)]
    latest = plan_catch_up(every_second, CatchUp.LATEST, after=NOW - timedelta(days=30), now=NOW,
                           max_catch_up=4, count_limit=500)
    assert latest.fire == (NOW,) and latest.last_missed == NOW


def test_firing_payload_merges_the_jobs_payload_with_cron_details() -> None:
    job = CronJob(id="j", expression="0 9 * * *", timezone="Europe/Berlin", event_type="cron_tick",
                  payload={"task": "report"}, priority=Priority.NORMAL, enabled=True,
                  catch_up=CatchUp.LATEST, origin=Origin.API, created_at_ms=0, updated_at_ms=0,
                  handled_until_ms=0)
    scheduled = datetime(2031, 3, 5, 8, 0, tzinfo=UTC)
    payload = firing_payload(job, scheduled, 1_930_000_000_123, catch_up=True)
    assert payload["task"] == "report"
    cron = payload["cron"]
    assert cron["job_id"] == "j" and cron["catch_up"] is True
    assert cron["scheduled_at"] == "2031-03-05T09:00:00+01:00"
    assert cron["scheduled_at_ms"] == int(scheduled.timestamp() * 1000)
    assert cron["fired_at_ms"] == 1_930_000_000_123
    assert dedup_key("j", 5) == "cron:j:5"
