-- 0008: cron jobs and their runs. Definitions are aman's own; APScheduler only times
-- them. handled_until is the last scheduled time handled (fired or skipped): catch-up at boot
-- starts after it. Runs are pruned to the newest few hundred per job.
CREATE TABLE cron_jobs (
    id             TEXT    PRIMARY KEY,
    expression     TEXT    NOT NULL,
    timezone       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    priority       TEXT    NOT NULL,
    enabled        INTEGER NOT NULL,
    catch_up       TEXT    NOT NULL,
    origin         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    handled_until  INTEGER NOT NULL,
    last_run_at    INTEGER,
    last_outcome   TEXT
);

CREATE TABLE cron_runs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id         TEXT    NOT NULL,
    scheduled_at   INTEGER NOT NULL,
    fired_at       INTEGER NOT NULL,
    outcome        TEXT    NOT NULL,
    event_id       TEXT,
    catch_up       INTEGER NOT NULL DEFAULT 0,
    count          INTEGER NOT NULL DEFAULT 1,
    error          TEXT,
    note           TEXT
);

CREATE INDEX cron_runs_by_job ON cron_runs (job_id, seq);
