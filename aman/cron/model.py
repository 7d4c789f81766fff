"""Cron jobs as values: definitions, runs, expression and time zone parsing, catch-up planning.

Everything here is pure: functions take ``now`` instead of reading a clock, so catch-up is tested
without sleeping. APScheduler's ``CronTrigger`` is imported inside ``build_trigger`` only, so an
idle daemon without cron jobs never loads APScheduler.

Expressions have 5 fields (``minute hour day month day-of-week``; seconds are 0) or 6 (seconds
first). Day-of-week follows crontab: 0 and 7 are Sunday, 1 is Monday (APScheduler 3 itself counts
0 as Monday, so numbers are translated to day names before they reach it).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aman.errors import ConflictError, InvalidInputError, NotFoundError
from aman.events.model import Priority
from aman.events.types import CRON_TICK, EventTable

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

#: Fact published when a job could not fire (the bus refused its event); becomes a notification.
CRON_FAILED = "cron.failed"
#: Every type cron emits besides its jobs' own (``cron_tick`` is the core's), declared at boot.
EVENT_TYPES: EventTable = (
    (CRON_FAILED, "A cron job could not fire (its event was refused); payload has the reason."),
)
#: Default event type of a firing (a built-in type).
#: Payload key holding the firing's details; a job's own payload may not use it.
PAYLOAD_KEY = "cron"
#: Job ids appear in URLs and in the event source ``cron:<id>``.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: Scheduled times counted one by one when planning a catch-up; beyond it the count is "more
#: than" (about 18 µs each, so a dense job after a long stop costs under 0.1 s of boot).
COUNT_LIMIT = 5000

_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")
_LABELS = {"second": "second", "minute": "minute", "hour": "hour", "day": "day-of-month",
           "month": "month", "day_of_week": "day-of-week"}
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_DAYS = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")
_UTC = UTC


# --- errors ------------------------------------------------------------------------------------


class InvalidCronExpressionError(InvalidInputError):
    """A cron expression has the wrong number of fields, a bad field, or never fires."""

    code = "invalid_cron_expression"
    hint = ("Use 5 fields 'minute hour day month day-of-week' (e.g. '*/5 * * * *') or 6 with "
            "seconds first (e.g. '*/10 * * * * *'); see docs/cron.md.")


class InvalidTimezoneError(InvalidInputError):
    """A time zone name that is not a known IANA zone."""

    code = "invalid_timezone"
    hint = "Use an IANA time zone name such as 'UTC', 'Europe/Berlin' or 'America/New_York'."


class CronJobNotFoundError(NotFoundError):
    """No cron job has this id."""

    code = "cron_job_not_found"
    hint = "GET /cron lists the cron jobs and their ids."


class CronJobExistsError(ConflictError):
    """A cron job with this id exists already."""

    code = "cron_job_exists"
    hint = "Choose another id, or change the existing job with POST /cron/{id}/update."


# --- values ------------------------------------------------------------------------------------


class CatchUp(enum.Enum):
    """What happens at boot to scheduled times missed while the daemon was down."""

    SKIP = "skip"
    LATEST = "latest"
    ALL = "all"


class Origin(enum.Enum):
    """Where a job's definition comes from; ``config`` jobs are reset from the file at boot."""

    CONFIG = "config"
    API = "api"


class Outcome(enum.Enum):
    """How one scheduled time was handled."""

    OK = "ok"                # the event was published
    FAILED = "failed"        # the bus refused it; a notification was raised
    SKIPPED = "skipped"      # not fired (catch-up policy, or the loop was too late); summary row
    DUPLICATE = "duplicate"  # this scheduled time had been published before (dedup key)


class CronJobSpec(BaseModel):
    """What defines a job: the body of POST /cron/add and one entry of ``cron.jobs``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str = Field(pattern=ID_PATTERN, description="Letters, digits, '_', '.', '-' (max 64).")
    expression: str = Field(min_length=1, max_length=200,
                            description="5 fields, or 6 with seconds first.")
    timezone: str | None = Field(None, description="IANA zone; default cron.timezone.")
    event_type: str = Field(CRON_TICK, min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, description="Merged into each event.")
    priority: Priority = Priority.NORMAL
    enabled: bool = True
    catch_up: CatchUp = CatchUp.LATEST

    @field_validator("payload")
    @classmethod
    def _no_reserved_key(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_payload(value)

    @field_validator("event_type")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CronJobChanges(BaseModel):
    """Body of POST /cron/{id}/update: every field optional; omitted or null means unchanged."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    expression: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    event_type: str | None = Field(None, min_length=1, max_length=200)
    payload: dict[str, Any] | None = None
    priority: Priority | None = None
    enabled: bool | None = None
    catch_up: CatchUp | None = None

    @field_validator("payload")
    @classmethod
    def _no_reserved_key(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _check_payload(value)

    def changes(self) -> dict[str, Any]:
        """The fields given (non-null)."""
        return {k: v for k, v in self if v is not None}


def _check_payload(value: dict[str, Any]) -> dict[str, Any]:
    if PAYLOAD_KEY in value:
        raise ValueError(f"the key {PAYLOAD_KEY!r} is reserved for the firing's details")
    return value


@dataclass(frozen=True, kw_only=True)
class CronJob:
    """A stored job: its definition plus what the service keeps about its runs."""

    id: str
    expression: str
    timezone: str
    event_type: str
    payload: dict[str, Any]
    priority: Priority
    enabled: bool
    catch_up: CatchUp
    origin: Origin
    created_at_ms: int
    updated_at_ms: int
    #: The last scheduled time handled (fired, or skipped by policy): catch-up starts after it.
    handled_until_ms: int
    last_run_at_ms: int | None = None
    last_outcome: str | None = None

    @property
    def source(self) -> str:
        """The event source of its firings."""
        return f"cron:{self.id}"

    def definition(self) -> dict[str, Any]:
        """The user-set fields (what the audit log records as old and new values)."""
        return {"id": self.id, "expression": self.expression, "timezone": self.timezone,
                "event_type": self.event_type, "payload": self.payload,
                "priority": self.priority.value, "enabled": self.enabled,
                "catch_up": self.catch_up.value}

    def to_json(self, next_run_at_ms: int | None) -> dict[str, Any]:
        """Wire shape (times in epoch ms, as everywhere in the API)."""
        return {**self.definition(), "origin": self.origin.value,
                "next_run_at": next_run_at_ms, "last_run_at": self.last_run_at_ms,
                "last_outcome": self.last_outcome, "created_at": self.created_at_ms,
                "updated_at": self.updated_at_ms}


@dataclass(frozen=True, kw_only=True)
class CronRun:
    """How one scheduled time (or, for a skipped summary, ``count`` of them) was handled."""

    job_id: str
    scheduled_at_ms: int
    fired_at_ms: int
    outcome: Outcome
    event_id: str | None = None
    catch_up: bool = False
    count: int = 1
    error: str | None = None
    note: str | None = None
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"seq": self.seq, "job_id": self.job_id, "scheduled_at": self.scheduled_at_ms,
                "fired_at": self.fired_at_ms, "outcome": self.outcome.value,
                "event_id": self.event_id, "catch_up": self.catch_up, "count": self.count,
                "error": self.error, "note": self.note}


# --- parsing -----------------------------------------------------------------------------------


def resolve_timezone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, or ``InvalidTimezoneError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimezoneError(f"unknown time zone {name!r}") from None


def cron_fields(expression: str) -> dict[str, str]:
    """Split an expression into APScheduler's field names (seconds 0 for 5 fields)."""
    parts = expression.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    elif len(parts) != 6:
        raise InvalidCronExpressionError(
            f"cron expression {expression!r} has {len(parts)} field(s); expected 5 "
            "(minute hour day month day-of-week) or 6 (second minute hour day month day-of-week)"
        )
    fields = dict(zip(_FIELDS, parts, strict=True))
    fields["day_of_week"] = _crontab_weekdays(fields["day_of_week"], expression)
    return fields


def _crontab_weekdays(value: str, expression: str) -> str:
    """Translate crontab day numbers (0/7 Sunday) into day names APScheduler reads the same way."""
    if value == "*" or not any(c.isdigit() for c in value):
        return value
    days: set[int] = set()
    for part in value.lower().split(","):
        if part in _DAY_NAMES:
            days.add(_DAY_NAMES.index(part))
            continue
        match = _NUMERIC_DAYS.match(part)
        if match is None:
            return value  # other syntax: APScheduler judges it and names the problem
        start, end, step = match.groups()
        low = 0 if start == "*" else int(start)
        high = int(end) if end is not None else (6 if start == "*" or step else low)
        if high > 7 or low > high or step == "0" or (start == "*" and end is not None):
            raise InvalidCronExpressionError(
                f"cron expression {expression!r}: day-of-week field {value!r} is invalid; "
                "use 0-7 (0 and 7 are Sunday), ranges like 1-5, steps like */2, or names mon-sun"
            )
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    if len(days) == 7:
        return "*"
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def build_trigger(expression: str, zone_name: str, now: datetime) -> CronTrigger:
    """An APScheduler ``CronTrigger`` for ``expression`` in ``zone_name`` that fires after ``now``.

    Raises ``InvalidTimezoneError`` or ``InvalidCronExpressionError`` naming the bad field with
    APScheduler's reason.
    """
    zone = resolve_timezone(zone_name)
    fields = cron_fields(expression)
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger(timezone=zone, **fields)
    except ValueError as exc:
        raise InvalidCronExpressionError(
            f"cron expression {expression!r}: {_bad_field(fields, CronTrigger) or exc}"
        ) from None
    if trigger.get_next_fire_time(None, now) is None:
        raise InvalidCronExpressionError(f"cron expression {expression!r} never fires")
    return trigger


def _bad_field(fields: Mapping[str, str], trigger_class: type[CronTrigger]) -> str | None:
    for name, value in fields.items():
        try:
            trigger_class(**{name: value})
        except ValueError as exc:
            return f"{_LABELS[name]} field {value!r}: {exc}"
    return None


# --- time --------------------------------------------------------------------------------------


def ms_to_datetime(ms: int) -> datetime:
    """Epoch ms as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=_UTC)


def datetime_to_ms(moment: datetime) -> int:
    """An aware datetime as epoch ms."""
    return round(moment.timestamp() * 1000)


def firing_payload(job: CronJob, scheduled: datetime, fired_at_ms: int, *,
                   catch_up: bool) -> dict[str, Any]:
    """The event payload of one firing: the job's payload plus ``cron`` details."""
    zone = resolve_timezone(job.timezone)
    return {**job.payload, PAYLOAD_KEY: {
        "job_id": job.id,
        "expression": job.expression,
        "timezone": job.timezone,
        "scheduled_at": scheduled.astimezone(zone).isoformat(),
        "scheduled_at_ms": datetime_to_ms(scheduled),
        "fired_at": ms_to_datetime(fired_at_ms).astimezone(zone).isoformat(timespec="milliseconds"),
        "fired_at_ms": fired_at_ms,
        "catch_up": catch_up,
    }}


def dedup_key(job_id: str, scheduled_at_ms: int) -> str:
    """One key per job and scheduled time, so a scheduled time is never published twice."""
    return f"cron:{job_id}:{scheduled_at_ms}"


# --- catch-up ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatchUpPlan:
    """What to do at boot with the scheduled times missed while the daemon was down."""

    fire: tuple[datetime, ...] = ()   # oldest first
    skipped: int = 0                  # missed times not fired
    exact: bool = True                # False: ``skipped`` is a lower bound (COUNT_LIMIT reached)
    first_missed: datetime | None = None
    last_missed: datetime | None = None

    @property
    def missed(self) -> bool:
        """Whether anything was missed."""
        return self.first_missed is not None


def plan_catch_up(trigger: CronTrigger, policy: CatchUp, *, after: datetime, now: datetime,
                  max_catch_up: int, count_limit: int = COUNT_LIMIT) -> CatchUpPlan:
    """Scheduled times in ``(after, now]`` and which of them to fire under ``policy``.

    ``skip`` fires none, ``latest`` the most recent one, ``all`` each of them up to the
    ``max_catch_up`` most recent; the rest count as skipped.
    """
    keep = {CatchUp.SKIP: 0, CatchUp.LATEST: 1, CatchUp.ALL: max(0, max_catch_up)}[policy]
    counted: list[datetime] = []
    moment = trigger.get_next_fire_time(after, after)
    while moment is not None and moment <= now and len(counted) < count_limit:
        counted.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)
    if not counted:
        return CatchUpPlan()
    exact = moment is None or moment > now
    if exact:
        fire = counted[len(counted) - keep:] if keep else []
        last = counted[-1]
        return CatchUpPlan(tuple(fire), len(counted) - len(fire), True, counted[0], last)
    recent = _most_recent(trigger, after, now, max(keep, 1))
    fire = recent[len(recent) - keep:] if keep else []
    return CatchUpPlan(tuple(fire), len(counted), False, counted[0], recent[-1])


def _most_recent(trigger: CronTrigger, after: datetime, now: datetime,
                 keep: int) -> list[datetime]:
    """The ``keep`` latest times in ``(after, now]``, looking back over a widening window."""
    span = timedelta(minutes=1)
    while True:
        start = max(after, now - span)
        found: list[datetime] = []
        moment = trigger.get_next_fire_time(start, start)
        while moment is not None and moment <= now:
            found.append(moment)
            moment = trigger.get_next_fire_time(moment, moment)
        if len(found) >= keep or start == after:
            return found[-keep:]
        span *= 8
