-- 0018 (PostgreSQL): several daemons on one store. Which daemon has claimed a pending event (the one that
-- accepted it, or one that took it over when that daemon died), and one row per running daemon,
-- refreshed by its heartbeat: a row that stops being refreshed names a daemon that died.
ALTER TABLE events ADD COLUMN claimed_by TEXT;
CREATE INDEX events_claims ON events (claimed_by, seq) WHERE status = 'pending';

CREATE TABLE daemons (
    name        TEXT    PRIMARY KEY,   -- cluster.node_name, host:port by default
    incarnation TEXT    NOT NULL,      -- fresh at every boot
    host        TEXT    NOT NULL,
    pid         BIGINT  NOT NULL,
    url         TEXT,                  -- where its HTTP API listens
    started_at  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,
    leads       TEXT    NOT NULL DEFAULT '[]'   -- JSON list of the roles it leads
);
