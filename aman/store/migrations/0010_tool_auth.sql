-- 0010: tool approval requests. Persisted so GET /tool-auth/pending survives a client
-- reconnect and a restart can expire what the previous run left pending.
CREATE TABLE tool_auth_requests (
    seq               INTEGER PRIMARY KEY,
    auth_id           TEXT    NOT NULL UNIQUE,   -- UUIDv7
    code              TEXT    NOT NULL,          -- short human code (IM /approve <code>)
    session_id        TEXT,
    agent_id          TEXT,
    tool              TEXT    NOT NULL,
    sensitivity       TEXT    NOT NULL,          -- medium | high
    arguments_summary TEXT    NOT NULL,          -- canonical JSON, secrets masked, <= 400 chars
    arguments_hash    TEXT    NOT NULL,          -- sha256 of the full canonical JSON
    call_id           TEXT    NOT NULL,
    status            TEXT    NOT NULL,          -- pending | approved | denied | timeout | cancelled | expired
    decided_by        TEXT,
    reason            TEXT,
    remember          TEXT,                      -- 'session' when the answer asked for it
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    decided_at        INTEGER
);
-- The pending listing and the restart sweep read only pending rows.
CREATE INDEX tool_auth_pending ON tool_auth_requests (seq) WHERE status = 'pending';
-- Answers by code look the newest request with that code up.
CREATE INDEX tool_auth_code ON tool_auth_requests (code, seq DESC);
