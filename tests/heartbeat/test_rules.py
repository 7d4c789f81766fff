from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from aman.config.heartbeat import ActiveHours, parse_every
from aman.heartbeat.rules import checklist_is_empty, in_active_hours, is_alert, strip_ok


@pytest.mark.parametrize(("text", "empty"), [
    ("", True),
    ("\n\n  \n", True),
    ("# Heartbeat\n## Daily\n", True),
    ("<!-- add items below -->\n# List\n", True),
    ("<!--\n- a commented item\n-->", True),
    ("# List\n- check the mail\n", False),
    ("remember the milk", False),
])
def test_a_checklist_of_headings_comments_and_blanks_is_empty(text: str, empty: bool) -> None:
    assert checklist_is_empty(text) is empty


@pytest.mark.parametrize(("value", "seconds"), [
    (None, 0), ("0", 0), (0, 0), ("30m", 1800), ("2h", 7200), ("90s", 90), ("1d", 86_400),
    ("45", 2700),
])
def test_intervals(value: str | int | None, seconds: int) -> None:
    assert parse_every(value) == seconds


@pytest.mark.parametrize("value", ["often", "10s", "5x", "-1m"])
def test_bad_intervals_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_every(value)


def at(hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 6, 1, hour, minute, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("start", "end", "now", "inside"), [
    (time(8), time(22), at(12), True),
    (time(8), time(22), at(7, 59), False),
    (time(8), time(22), at(22), False),
    (time(22), time(6), at(23), True),   # spans midnight
    (time(22), time(6), at(5, 59), True),
    (time(22), time(6), at(12), False),
])
def test_active_hours(start: time, end: time, now: int, inside: bool) -> None:
    assert in_active_hours(ActiveHours(start=start, end=end), now) is inside


def test_active_hours_follow_their_time_zone() -> None:
    berlin = ActiveHours(start=time(8), end=time(9), timezone="Europe/Berlin")
    assert in_active_hours(berlin, at(6, 30))  # 08:30 in Berlin (summer time)
    assert not in_active_hours(berlin, at(8, 30))
    assert in_active_hours(None, at(3))


@pytest.mark.parametrize(("reply", "rest", "alert"), [
    ("HEARTBEAT_OK", "", False),
    ("  HEARTBEAT_OK.  ", "", False),
    ("All quiet. HEARTBEAT_OK", "All quiet", False),
    ("HEARTBEAT_OK " + "x" * 301, "x" * 301, True),
    ("y" * 300, "y" * 300, False),
])
def test_ok_answers_are_not_alerts(reply: str, rest: str, alert: bool) -> None:
    assert strip_ok(reply) == rest
    assert is_alert(reply) is alert
