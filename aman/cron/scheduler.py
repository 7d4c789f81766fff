"""The APScheduler 3 glue: an ``AsyncIOScheduler`` decides *when*; aman decides what a firing does.

APScheduler keeps one job per enabled cron job (memory job store, nothing persisted there: the
definitions live in aman's SQLite). Its executor is replaced by one that runs nothing and hands
the due job id and scheduled times to a callback, because APScheduler 3 does not pass the
scheduled time to the job function, and a firing must carry it.

This module imports APScheduler at the top; ``CronService`` imports it only once an enabled job
exists, which keeps it out of an idle daemon without cron jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.base import BaseExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

#: Called on the event loop with a job id and its due scheduled times, oldest first.
DueCallback = Callable[[str, list[datetime]], None]


def _never_called() -> None:
    """Placeholder job function: the hand-off executor never calls it."""


class _HandOffExecutor(BaseExecutor):  # type: ignore[misc]
    """Passes due run times to aman instead of running a function."""

    def __init__(self, on_due: DueCallback) -> None:
        super().__init__()
        self._on_due = on_due

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        """Hand the due times over at once; no instance counting, nothing runs here."""
        self._on_due(job.id, list(run_times))

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._on_due(job.id, list(run_times))


class CronScheduler:
    """One AsyncIOScheduler whose due times go to ``on_due``."""

    def __init__(self, on_due: DueCallback) -> None:
        # coalesce off: when the loop was late, every due time is handed over, so the service
        # can record the ones it does not fire instead of losing them silently.
        self._scheduler = AsyncIOScheduler(
            executors={"default": _HandOffExecutor(on_due)},
            job_defaults={"coalesce": False, "max_instances": 1, "misfire_grace_time": None},
            timezone=ZoneInfo("UTC"),
        )

    def start(self) -> None:
        """Start timing (needs the running event loop)."""
        if not self._scheduler.running:
            self._scheduler.start()

    def put(self, job_id: str, trigger: CronTrigger, first_run: datetime | None = None) -> None:
        """Schedule (or reschedule) ``job_id``; ``first_run`` overrides the first due time."""
        extra: dict[str, Any] = {} if first_run is None else {"next_run_time": first_run}
        self._scheduler.add_job(_never_called, trigger=trigger, id=job_id, name=f"cron:{job_id}",
                                replace_existing=True, **extra)

    def drop(self, job_id: str) -> None:
        """Stop timing ``job_id`` (nothing happens when it is not scheduled)."""
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def next_run(self, job_id: str) -> datetime | None:
        """The next due time of ``job_id``, if scheduled."""
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.next_run_time

    def shutdown(self) -> None:
        """Stop timing everything."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
