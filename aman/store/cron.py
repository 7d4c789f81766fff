"""Repository for cron jobs and their runs (tables ``cron_jobs`` and ``cron_runs``)."""

from __future__ import annotations

import builtins
import json

from aman.cron.model import CatchUp, CronJob, CronRun, Origin, Outcome
from aman.events.model import Priority
from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter

_JOB_COLUMNS = ("id, expression, timezone, event_type, payload, priority, enabled, catch_up,"
                " origin, created_at, updated_at, handled_until, last_run_at, last_outcome")


class SqlCronRepository:
    """Jobs by id; runs newest first by ``seq``, at most ``keep`` per job."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def jobs(self) -> builtins.list[CronJob]:
        """Every stored job, by id."""
        rows = await self._db.fetchall(f"SELECT {_JOB_COLUMNS} FROM cron_jobs ORDER BY id")
        return [_job(row) for row in rows]

    async def save(self, job: CronJob) -> None:
        """Insert or replace a job's definition and state, durably."""
        await self._writer.execute([(
            f"INSERT INTO cron_jobs ({_JOB_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET expression = excluded.expression,"
            " timezone = excluded.timezone, event_type = excluded.event_type,"
            " payload = excluded.payload, priority = excluded.priority,"
            " enabled = excluded.enabled, catch_up = excluded.catch_up, origin = excluded.origin,"
            " updated_at = excluded.updated_at, handled_until = excluded.handled_until",
            (job.id, job.expression, job.timezone, job.event_type, json.dumps(job.payload),
             job.priority.value, int(job.enabled), job.catch_up.value, job.origin.value,
             job.created_at_ms, job.updated_at_ms, job.handled_until_ms, job.last_run_at_ms,
             job.last_outcome),
        )])

    async def delete(self, job_id: str) -> None:
        """Remove a job and its runs, durably."""
        await self._writer.execute([
            ("DELETE FROM cron_runs WHERE job_id = ?", (job_id,)),
            ("DELETE FROM cron_jobs WHERE id = ?", (job_id,)),
        ])

    async def record_run(self, run: CronRun, *, handled_until_ms: int | None, last_run: bool,
                         keep: int) -> None:
        """Store a run; move the job's mark and last run; prune its runs beyond ``keep``."""
        statements: builtins.list[tuple[str, tuple[object, ...]]] = [
            ("INSERT INTO cron_runs (job_id, scheduled_at, fired_at, outcome, event_id, catch_up,"
             " count, error, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
             (run.job_id, run.scheduled_at_ms, run.fired_at_ms, run.outcome.value, run.event_id,
              int(run.catch_up), run.count, run.error, run.note)),
        ]
        if handled_until_ms is not None:
            statements.append((
                "UPDATE cron_jobs SET handled_until ="
                f" {self._db.dialect.greatest('handled_until', '?')} WHERE id = ?",
                (handled_until_ms, run.job_id)))
        if last_run:
            statements.append((
                "UPDATE cron_jobs SET last_run_at = ?, last_outcome = ? WHERE id = ?",
                (run.fired_at_ms, run.outcome.value, run.job_id)))
        statements.append((
            "DELETE FROM cron_runs WHERE job_id = ? AND seq <= (SELECT seq FROM cron_runs"
            " WHERE job_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (run.job_id, run.job_id, keep)))
        await self._writer.execute(statements)

    async def runs(self, job_id: str, *, limit: int,
                   before_seq: int | None = None) -> builtins.list[CronRun]:
        """A job's runs, newest first, older than ``before_seq`` when given."""
        rows = await self._db.fetchall(
            "SELECT * FROM cron_runs WHERE job_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (job_id, before_seq if before_seq is not None else 2**62, limit),
        )
        return [_run(row) for row in rows]


def _job(row: Row) -> CronJob:
    return CronJob(
        id=row["id"], expression=row["expression"], timezone=row["timezone"],
        event_type=row["event_type"], payload=json.loads(row["payload"]),
        priority=Priority(row["priority"]), enabled=bool(row["enabled"]),
        catch_up=CatchUp(row["catch_up"]), origin=Origin(row["origin"]),
        created_at_ms=int(row["created_at"]), updated_at_ms=int(row["updated_at"]),
        handled_until_ms=int(row["handled_until"]), last_run_at_ms=row["last_run_at"],
        last_outcome=row["last_outcome"],
    )


def _run(row: Row) -> CronRun:
    return CronRun(
        seq=int(row["seq"]), job_id=row["job_id"], scheduled_at_ms=int(row["scheduled_at"]),
        fired_at_ms=int(row["fired_at"]), outcome=Outcome(row["outcome"]),
        event_id=row["event_id"], catch_up=bool(row["catch_up"]), count=int(row["count"]),
        error=row["error"], note=row["note"],
    )
