"""CronService: cron jobs kept in the store, timed by APScheduler, each firing an event on the bus.

- Jobs come from ``cron.jobs`` in the config (origin ``config``, reset from the file at every
  boot; removed from the store when gone from the file) and from the API (origin ``api``).
- APScheduler only says when a job is due (``aman.cron.scheduler``, imported on first need). Each
  due time is published as one event from source ``cron:<id>`` with a dedup key of job id and
  scheduled time, and recorded as a run: ``ok``, ``duplicate``, ``failed`` (the bus refused it:
  the ``cron.failed`` fact becomes a warning notification) or ``skipped`` (summary rows).
- Each job keeps ``handled_until``, the last scheduled time handled. At boot the times missed
  since then are handled by the job's ``catch_up`` policy before timing resumes.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aman.clock import Clock
from aman.cron.changes import changed_job, merge_config_jobs, new_job, retimed, skip_note
from aman.cron.model import (
    CRON_FAILED,
    CronJob,
    CronJobChanges,
    CronJobExistsError,
    CronJobNotFoundError,
    CronJobSpec,
    CronRun,
    Origin,
    Outcome,
    build_trigger,
    datetime_to_ms,
    dedup_key,
    firing_payload,
    ms_to_datetime,
    plan_catch_up,
)
from aman.errors import AmanError, NotReadyError, RateLimitedError
from aman.events.model import Event

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

    from aman.config.settings import CronSettings
    from aman.core.lifecycle import TaskTracker
    from aman.cron.scheduler import CronScheduler
    from aman.events.bus import EventBus
    from aman.events.subscribers import PublishResult
    from aman.events.types import EventTypeRegistry

log = logging.getLogger(__name__)

#: Runs kept per job (newest); older ones are pruned as new ones arrive.
KEEP_RUNS = 200
#: A catch-up firing refused by the rate limit waits and tries again this often at most.
_RATE_LIMIT_TRIES = 5
#: Longest a stop waits for firings already handed over.
_STOP_WAIT_SEC = 5.0


class CronRepository(Protocol):
    """Storage port for jobs and runs."""

    async def jobs(self) -> builtins.list[CronJob]:
        """Every stored job."""
        ...

    async def save(self, job: CronJob) -> None:
        """Insert or replace a job (definition and mark)."""
        ...

    async def delete(self, job_id: str) -> None:
        """Remove a job and its runs."""
        ...

    async def record_run(self, run: CronRun, *, handled_until_ms: int | None, last_run: bool,
                         keep: int) -> None:
        """Store a run, move the job's mark (and last run), prune old runs."""
        ...

    async def runs(self, job_id: str, *, limit: int,
                   before_seq: int | None = None) -> builtins.list[CronRun]:
        """Runs newest first."""
        ...


class CronService:
    """Owns the jobs, their timing and their runs."""

    def __init__(self, repository: CronRepository, bus: EventBus, types: EventTypeRegistry,
                 clock: Clock, tasks: TaskTracker, *, settings: CronSettings,
                 keep_runs: int = KEEP_RUNS) -> None:
        self._repo = repository
        self._bus = bus
        self._types = types
        self._clock = clock
        self._tasks = tasks
        self._settings = settings
        self._keep = keep_runs
        self._jobs: dict[str, CronJob] = {}
        self._triggers: dict[str, CronTrigger] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._edit_lock = asyncio.Lock()
        self._scheduler: CronScheduler | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._running = False
        self._loaded = False

    # --- lifecycle -------------------------------------------------------------------------

    async def load(self) -> None:
        """Merge the config's jobs and read every job: any daemon answers for them and takes
        edits, while only the one leading cron times them (``start``)."""
        now_ms = self._clock.now_ms()
        self._jobs = await merge_config_jobs(
            self._repo, self._settings, {j.id: j for j in await self._repo.jobs()}, now_ms)
        for job in self._jobs.values():
            self._types.register(job.event_type, owner=job.source)
        self._loaded = True

    async def start(self) -> None:
        """Catch up on missed runs, then start timing enabled jobs (read afresh: another
        daemon sharing the store may have edited them)."""
        if not self._loaded:
            await self.load()
        else:
            self._jobs = {j.id: j for j in await self._repo.jobs()}
        self._running = True
        now_ms = self._clock.now_ms()
        now = ms_to_datetime(now_ms)
        for job in self._jobs.values():
            self._types.register(job.event_type, owner=job.source)
            trigger = self._trigger_for(job, now) if job.enabled else None
            if trigger is None:
                continue
            self._triggers[job.id] = trigger
            async with self._lock(job.id):
                await self._catch_up(job.id, trigger, now)
            # Times after `now` belong to the scheduler; any already due fire at once.
            self._schedule(job.id, trigger, first_run=trigger.get_next_fire_time(now, now))
        log.info("cron: %d job(s), %d enabled", len(self._jobs), len(self._triggers))

    async def refresh(self) -> None:
        """Take in jobs other daemons sharing the store added, changed or removed; the daemon
        timing them re-times what changed."""
        async with self._edit_lock:
            stored = {j.id: j for j in await self._repo.jobs()}
            now = ms_to_datetime(self._clock.now_ms())
            for job_id in set(self._jobs) - set(stored):
                self._unschedule(job_id)
                self._types.unregister_owner(self._jobs.pop(job_id).source)
            for job_id, job in stored.items():
                old = self._jobs.get(job_id)
                if old is not None and old.definition() == job.definition():
                    continue
                self._jobs[job_id] = job
                if old is not None and old.event_type != job.event_type:
                    self._types.unregister_owner(old.source)
                self._types.register(job.event_type, owner=job.source)
                if not job.enabled:
                    self._unschedule(job_id)
                elif self._running and (old is None or retimed(old, job)):
                    trigger = self._trigger_for(job, now)
                    if trigger is not None:
                        self._triggers[job_id] = trigger
                        self._schedule(job_id, trigger)

    def _trigger_for(self, job: CronJob, now: datetime) -> CronTrigger | None:
        try:
            return build_trigger(job.expression, job.timezone, now)
        except AmanError as exc:  # e.g. a zone gone from the system's tz database
            log.error("cron job %s cannot be scheduled: %s", job.id, exc)
            return None

    async def stop(self) -> None:
        """Stop timing, and let firings already handed over finish."""
        self._running = False
        if self._scheduler is not None:
            self._scheduler.shutdown()
            self._scheduler = None
            await asyncio.sleep(0)  # APScheduler's asyncio shutdown runs on the next loop turn
        if self._inflight:
            _, late = await asyncio.wait(set(self._inflight), timeout=_STOP_WAIT_SEC)
            for task in late:
                log.warning("cron firing %s still running at stop; cancelled", task.get_name())
                task.cancel()
        self._triggers.clear()

    # --- reads -----------------------------------------------------------------------------

    def listing(self) -> builtins.list[dict[str, Any]]:
        """Every job with its next and last run, by id."""
        return [self._view(job) for _, job in sorted(self._jobs.items())]

    def snapshot(self, job_id: str) -> dict[str, Any]:
        """One job with its next and last run, or ``CronJobNotFoundError``."""
        return self._view(self._require(job_id))

    def get(self, job_id: str) -> CronJob:
        """One job, or ``CronJobNotFoundError``."""
        return self._require(job_id)

    async def runs(self, job_id: str, *, limit: int,
                   before_seq: int | None = None) -> builtins.list[CronRun]:
        """A job's recent runs, newest first."""
        self._require(job_id)
        return await self._repo.runs(job_id, limit=limit, before_seq=before_seq)

    def next_run_ms(self, job_id: str) -> int | None:
        """When the job is due next (None when disabled or not timed)."""
        if self._scheduler is None or job_id not in self._triggers:
            return None
        due = self._scheduler.next_run(job_id)
        return None if due is None else datetime_to_ms(due)

    def _view(self, job: CronJob) -> dict[str, Any]:
        return job.to_json(self.next_run_ms(job.id))

    def _require(self, job_id: str) -> CronJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise CronJobNotFoundError(f"no cron job {job_id!r}")
        return job

    # --- changes ---------------------------------------------------------------------------

    async def add(self, spec: CronJobSpec) -> CronJob:
        """Store and time a new job; 409 for a taken id, 400 for a bad expression or zone."""
        async with self._edit_lock:
            if spec.id in self._jobs:
                raise CronJobExistsError(f"a cron job with id {spec.id!r} exists already")
            now_ms = self._clock.now_ms()
            job = new_job(spec, Origin.API, now_ms, self._settings.timezone)
            trigger = build_trigger(job.expression, job.timezone, ms_to_datetime(now_ms))
            await self._repo.save(job)
            self._jobs[job.id] = job
            self._types.register(job.event_type, owner=job.source)
            if job.enabled:
                self._triggers[job.id] = trigger
                self._schedule(job.id, trigger)
            return job

    async def update(self, job_id: str, changes: CronJobChanges) -> tuple[CronJob, CronJob]:
        """Apply a partial change; return (old, new). Nothing is stored when it is invalid."""
        async with self._edit_lock, self._lock(job_id):
            old = self._require(job_id)
            now_ms = self._clock.now_ms()
            new = changed_job(old, changes.changes(), now_ms)
            trigger = build_trigger(new.expression, new.timezone, ms_to_datetime(now_ms))
            if new.definition() == old.definition():
                return old, old
            await self._repo.save(new)
            self._jobs[job_id] = new
            if new.event_type != old.event_type:
                self._types.unregister_owner(old.source)
                self._types.register(new.event_type, owner=new.source)
            if not new.enabled:
                self._unschedule(job_id)
            elif retimed(old, new):  # new timing, or enabled again
                self._triggers[job_id] = trigger
                self._schedule(job_id, trigger)
            return old, new

    async def remove(self, job_id: str) -> CronJob:
        """Delete a job and its runs; return what it was."""
        async with self._edit_lock, self._lock(job_id):
            old = self._require(job_id)
            await self._repo.delete(job_id)
            del self._jobs[job_id]
            self._unschedule(job_id)
            self._types.unregister_owner(old.source)
            self._locks.pop(job_id, None)
            return old

    # --- timing ----------------------------------------------------------------------------

    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    def _schedule(self, job_id: str, trigger: CronTrigger,
                  first_run: datetime | None = None) -> None:
        if not self._running:  # another daemon times the jobs (it picks up edits by refresh)
            return
        if self._scheduler is None:
            from aman.cron.scheduler import CronScheduler  # first enabled job: load APScheduler

            self._scheduler = CronScheduler(self._on_due)
            self._scheduler.start()
        self._scheduler.put(job_id, trigger, first_run)

    def _unschedule(self, job_id: str) -> None:
        self._triggers.pop(job_id, None)
        if self._scheduler is not None:
            self._scheduler.drop(job_id)

    def _on_due(self, job_id: str, run_times: builtins.list[datetime]) -> None:
        """APScheduler says ``job_id`` is due (called on the loop; must not block)."""
        if not self._running or not run_times:
            return
        task = self._tasks.spawn(f"cron:{job_id}", self._handle_due(job_id, run_times))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _handle_due(self, job_id: str, run_times: builtins.list[datetime]) -> None:
        async with self._lock(job_id):
            job = self._jobs.get(job_id)
            if job is None or not job.enabled:
                return
            if len(run_times) > 1:  # the loop was late: fire the latest, say what was not
                late = len(run_times) - 1
                await self._record_skipped(
                    job, run_times[0], late, until=run_times[-2], catch_up=False,
                    note=f"{late} run(s) came due while the daemon could not fire on time (a "
                         "busy event loop or a suspended machine); only the latest was fired")
            await self._fire(job_id, run_times[-1], catch_up=False)

    async def _catch_up(self, job_id: str, trigger: CronTrigger, now: datetime) -> None:
        job = self._jobs[job_id]
        plan = plan_catch_up(trigger, job.catch_up, after=ms_to_datetime(job.handled_until_ms),
                             now=now, max_catch_up=self._settings.max_catch_up)
        if not plan.missed:
            return
        log.info("cron job %s: %s%d missed run(s) while down; catch_up %s fires %d",
                 job_id, "" if plan.exact else "more than ", plan.skipped + len(plan.fire),
                 job.catch_up.value, len(plan.fire))
        if plan.skipped:
            assert plan.first_missed is not None and plan.last_missed is not None
            until = (ms_to_datetime(datetime_to_ms(plan.fire[0]) - 1) if plan.fire
                     else plan.last_missed)
            await self._record_skipped(
                job, plan.first_missed, plan.skipped, until=until, catch_up=True,
                note=skip_note(job.catch_up, plan, self._settings.max_catch_up))
        for moment in plan.fire:
            await self._fire(job_id, moment, catch_up=True)

    async def run_now(self, job_id: str) -> CronRun:
        """Fire the job once at once (an operator's "run now"); its schedule is left as it is."""
        async with self._lock(self._require(job_id).id):
            now = ms_to_datetime(self._clock.now_ms())
            run = await self._fire(job_id, now, catch_up=False, manual=True)
        if run is None:
            raise NotReadyError("the daemon is stopping; the job was not run")
        return run

    async def _fire(self, job_id: str, scheduled: datetime, *, catch_up: bool,
                    manual: bool = False) -> CronRun | None:
        """Publish one time (caller holds the job's lock) and record it; manual: mark unmoved."""
        job = self._jobs.get(job_id)
        scheduled_ms = datetime_to_ms(scheduled)
        if job is None or (not manual and scheduled_ms <= job.handled_until_ms):
            return None  # removed meanwhile, or already handled
        if not catch_up and not self._bus.accepting:
            # Stopping: the time stays unhandled, so the next boot's catch-up records it.
            log.info("cron job %s due while the daemon stops; left to catch-up", job_id)
            return None
        fired_ms = self._clock.now_ms()
        event = Event.create(
            source=job.source, event_type=job.event_type, priority=job.priority,
            payload=firing_payload(job, scheduled, fired_ms, catch_up=catch_up),
            dedup_key=dedup_key(job.id, scheduled_ms), now_ms=fired_ms,
        )
        base: dict[str, Any] = {"job_id": job.id, "scheduled_at_ms": scheduled_ms,
                                "fired_at_ms": fired_ms, "catch_up": catch_up}
        try:
            result = await self._publish(event, patient=catch_up)
        except AmanError as exc:
            return await self._failed(job, base, f"{exc.code}: {exc.message}")
        if result.dropped is not None:
            return await self._failed(job, base, f"dropped by the bus: {result.dropped}")
        note = (f"already published as event {result.event.id} (dedup key)"
                if result.duplicate else "run now" if manual else None)
        run = CronRun(**base, event_id=result.event.id, note=note,
                      outcome=Outcome.DUPLICATE if result.duplicate else Outcome.OK)
        await self._store(job, run, handled_until_ms=None if manual else scheduled_ms,
                          last_run=True)
        return run

    async def _publish(self, event: Event, *, patient: bool) -> PublishResult:
        for attempt in range(1, _RATE_LIMIT_TRIES + 1):
            try:
                return await self._bus.publish(event)
            except RateLimitedError as exc:
                # A long catch-up (catch_up: all) may outrun the per-source burst: pace it.
                if not patient or attempt == _RATE_LIMIT_TRIES:
                    raise
                await self._clock.sleep(min(exc.retry_after, 2.0))
        raise AssertionError("unreachable")

    async def _failed(self, job: CronJob, base: dict[str, Any], error: str) -> CronRun:
        log.warning("cron job %s could not fire: %s", job.id, error)
        run = CronRun(**base, outcome=Outcome.FAILED, error=error)
        scheduled_at = ms_to_datetime(base["scheduled_at_ms"]).isoformat()
        self._bus.emit(CRON_FAILED, {**base, "scheduled_at": scheduled_at,
                                     "event_type": job.event_type, "error": error},
                       source=job.source)
        # The mark stays: a failed time counts as missed for the next boot's catch-up.
        await self._store(job, run, handled_until_ms=None, last_run=True)
        return run

    async def _record_skipped(self, job: CronJob, first: datetime, count: int, *, note: str,
                              until: datetime, catch_up: bool) -> None:
        """One summary row for ``count`` scheduled times from ``first`` that were not fired."""
        run = CronRun(job_id=job.id, scheduled_at_ms=datetime_to_ms(first),
                      fired_at_ms=self._clock.now_ms(), outcome=Outcome.SKIPPED,
                      catch_up=catch_up, count=count, note=note)
        await self._store(job, run, handled_until_ms=datetime_to_ms(until), last_run=False)

    async def _store(self, job: CronJob, run: CronRun, *, handled_until_ms: int | None,
                     last_run: bool) -> None:
        current = self._jobs.get(job.id, job)
        changes: dict[str, Any] = {}
        if handled_until_ms is not None:
            changes["handled_until_ms"] = max(current.handled_until_ms, handled_until_ms)
        if last_run:
            changes.update(last_run_at_ms=run.fired_at_ms, last_outcome=run.outcome.value)
        if job.id in self._jobs:
            self._jobs[job.id] = replace(current, **changes)
        try:
            await self._repo.record_run(run, handled_until_ms=handled_until_ms, last_run=last_run,
                                        keep=self._keep)
        except AmanError:
            # The event (if any) is out; a lost record at worst repeats as a duplicate at boot.
            log.exception("cron job %s: the run could not be recorded", job.id)

