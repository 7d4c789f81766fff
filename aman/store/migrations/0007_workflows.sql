-- 0007: workflows: every definition version seen, instances, and their transition history.
CREATE TABLE workflow_definitions (
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL,              -- sha256 of the validated definition
    version     INTEGER NOT NULL,              -- 1, 2, ... per name, in the order first seen
    body        TEXT    NOT NULL,              -- the validated definition as JSON
    path        TEXT,
    first_seen  INTEGER NOT NULL,
    PRIMARY KEY (name, hash)
);
CREATE UNIQUE INDEX workflow_definitions_version ON workflow_definitions (name, version);
CREATE TABLE workflow_instances (
    id                  TEXT    PRIMARY KEY,   -- UUIDv7: sorts by creation
    workflow            TEXT    NOT NULL,
    definition_hash     TEXT    NOT NULL,      -- the version it started with, kept on file changes
    definition_version  INTEGER NOT NULL,
    state               TEXT    NOT NULL,
    status              TEXT    NOT NULL,      -- active | finished
    wake_at             INTEGER,               -- next timer (state timeout or auto-retry), ms
    wake_kind           TEXT,
    trigger_event_id    TEXT,                  -- the start_on event that created it
    body                TEXT    NOT NULL,      -- data, counters, last error, failed event (JSON)
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX workflow_instances_by_workflow ON workflow_instances (workflow, state, id);
CREATE INDEX workflow_instances_by_state ON workflow_instances (state, id);
CREATE UNIQUE INDEX workflow_instances_by_trigger ON workflow_instances (workflow, trigger_event_id)
    WHERE trigger_event_id IS NOT NULL;
CREATE INDEX workflow_instances_wake ON workflow_instances (wake_at) WHERE wake_at IS NOT NULL;
CREATE TABLE workflow_history (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT    NOT NULL,
    from_state   TEXT,
    to_state     TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    event_id     TEXT,
    event_type   TEXT,
    detail       TEXT    NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX workflow_history_by_instance ON workflow_history (instance_id, seq);
CREATE INDEX workflow_history_by_event ON workflow_history (instance_id, event_id)
    WHERE event_id IS NOT NULL;
