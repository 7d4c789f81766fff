-- 0002: the durable event log, trace steps, per-handler deliveries, dedup keys and the DLQ.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,          -- acceptance order (SSE ids, resumption)
    id              TEXT    NOT NULL UNIQUE,
    trace_id        TEXT    NOT NULL,
    parent_event_id TEXT,
    source          TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    delivery        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',  -- pending | done | expired | dropped
    body            TEXT    NOT NULL                     -- the event as JSON
);
CREATE INDEX events_trace ON events (trace_id, seq);
CREATE INDEX events_pending ON events (seq) WHERE status = 'pending';
CREATE INDEX events_created ON events (created_at);

CREATE TABLE event_steps (
    id       INTEGER PRIMARY KEY,
    event_id TEXT    NOT NULL,
    trace_id TEXT    NOT NULL,
    ts_ms    INTEGER NOT NULL,
    step     TEXT    NOT NULL,   -- accepted, dispatched, handler_ok, handler_failed, retried, expired, dead_lettered, done, ...
    handler  TEXT,
    detail   TEXT                -- JSON object
);
CREATE INDEX event_steps_trace ON event_steps (trace_id, id);
CREATE INDEX event_steps_event ON event_steps (event_id, id);

CREATE TABLE deliveries (
    event_id   TEXT    NOT NULL,
    handler    TEXT    NOT NULL,
    status     TEXT    NOT NULL,  -- ok | dead
    attempts   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (event_id, handler)
) WITHOUT ROWID;

CREATE TABLE dedup_keys (
    key        TEXT    PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE dlq (
    id             TEXT    PRIMARY KEY,
    event_id       TEXT    NOT NULL,
    handler        TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    attempts       INTEGER NOT NULL,
    manual_retries INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL DEFAULT 'active',  -- active | retrying | resolved | discarded | archived
    enqueued_at    INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    warned_days    INTEGER,                             -- smallest expiry warning already sent
    updated_at     INTEGER NOT NULL,
    history        TEXT    NOT NULL DEFAULT '[]',       -- JSON list of {ts_ms, action, operator, outcome}
    event          TEXT    NOT NULL                     -- the event as JSON
);
CREATE INDEX dlq_status ON dlq (status, enqueued_at, id);
