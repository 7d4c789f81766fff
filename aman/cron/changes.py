"""How cron jobs change: made from a spec, merged from the config file, fields applied (a new
timing owes nothing before it), and the note a catch-up leaves for the runs it did not fire."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from aman.cron.model import CatchUp, CatchUpPlan, CronJob, CronJobSpec, Origin

if TYPE_CHECKING:
    from aman.config.settings import CronSettings

log = logging.getLogger("aman.cron.service")


def definition_fields(job: CronJob) -> dict[str, Any]:
    """The user-set fields of ``job`` as keyword arguments (to build a changed job)."""
    return {"expression": job.expression, "timezone": job.timezone,
            "event_type": job.event_type, "payload": job.payload, "priority": job.priority,
            "enabled": job.enabled, "catch_up": job.catch_up}


def changed_job(old: CronJob, fields: dict[str, Any], now_ms: int) -> CronJob:
    """``old`` with ``fields`` applied; new timing or re-enabling restarts its mark at now."""
    new = replace(old, **fields)
    if new.definition() == old.definition() and new.origin is old.origin:
        return old
    return replace(new, updated_at_ms=now_ms,
                   handled_until_ms=now_ms if retimed(old, new) else old.handled_until_ms)


def retimed(old: CronJob, new: CronJob) -> bool:
    """A new schedule, or enabled again: times before the change are not owed."""
    return (new.expression != old.expression or new.timezone != old.timezone
            or (new.enabled and not old.enabled))


def skip_note(policy: CatchUp, plan: CatchUpPlan, max_catch_up: int) -> str:
    """What the summary run of the times a catch-up did not fire says, and why."""
    assert plan.first_missed is not None
    count = f"{'' if plan.exact else 'more than '}{plan.skipped}"
    since = plan.first_missed.isoformat()
    if policy is CatchUp.SKIP:
        return (f"{count} run(s) missed while the daemon was down (from {since}); not fired: "
                "catch_up is skip")
    if policy is CatchUp.LATEST:
        return (f"{count} earlier run(s) missed while the daemon was down (from {since}); only "
                "the latest was fired: catch_up is latest")
    return (f"{count} earlier run(s) missed while the daemon was down (from {since}); not "
            f"fired: catch_up all fires at most cron.max_catch_up = {max_catch_up}")


def new_job(spec: CronJobSpec, origin: Origin, now_ms: int, default_timezone: str) -> CronJob:
    """A job made from ``spec`` now: it has missed nothing yet."""
    return CronJob(
        id=spec.id, expression=spec.expression, timezone=spec.timezone or default_timezone,
        event_type=spec.event_type, payload=dict(spec.payload), priority=spec.priority,
        enabled=spec.enabled, catch_up=spec.catch_up, origin=origin, created_at_ms=now_ms,
        updated_at_ms=now_ms, handled_until_ms=now_ms)


class JobStore(Protocol):
    """Where merged config jobs are written."""

    async def save(self, job: CronJob) -> None:
        """Insert or replace a job."""
        ...

    async def delete(self, job_id: str) -> None:
        """Delete a job and its runs."""
        ...


async def merge_config_jobs(repo: JobStore, settings: CronSettings, stored: dict[str, CronJob],
                            now_ms: int) -> dict[str, CronJob]:
    """The config file wins for its ids; config jobs gone from the file are removed."""
    configured: set[str] = set()
    for spec in settings.jobs:
        configured.add(spec.id)
        wanted = new_job(spec, Origin.CONFIG, now_ms, settings.timezone)
        old = stored.get(spec.id)
        if old is not None:
            if old.definition() == wanted.definition() and old.origin is Origin.CONFIG:
                continue
            wanted = changed_job(replace(old, origin=Origin.CONFIG), definition_fields(wanted),
                                 now_ms)
        await repo.save(wanted)
        stored[spec.id] = wanted
        log.info("cron job %s %s from the config", spec.id, "updated" if old else "added")
    gone = [i for i, j in stored.items() if j.origin is Origin.CONFIG and i not in configured]
    for job_id in gone:
        await repo.delete(job_id)
        del stored[job_id]
        log.info("cron job %s removed: no longer in cron.jobs", job_id)
    return stored
