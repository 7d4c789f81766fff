-- 0015 (PostgreSQL): every heartbeat tick, run or skipped, with why.
CREATE TABLE heartbeat_runs (
    id            TEXT    PRIMARY KEY,   -- UUIDv7
    agent_id      TEXT    NOT NULL,
    ts            BIGINT  NOT NULL,
    trigger       TEXT    NOT NULL,      -- schedule | wake
    outcome       TEXT    NOT NULL,      -- ok | alerted | failed | skipped
    reason        TEXT,
    session_id    TEXT,
    input_tokens  BIGINT  NOT NULL,
    output_tokens BIGINT  NOT NULL,
    delivered_to  TEXT,
    text          TEXT
);
CREATE INDEX heartbeat_runs_by_agent ON heartbeat_runs (agent_id, ts DESC);
