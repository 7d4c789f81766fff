-- 0003: stored notifications. seq keeps creation order for listing and pruning.
CREATE TABLE notifications (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    severity     TEXT    NOT NULL,             -- critical | warning | info
    category     TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    action_route TEXT,
    action_label TEXT,
    event_id     TEXT,                         -- the bus event that caused it
    created_at   INTEGER NOT NULL,
    read         INTEGER NOT NULL DEFAULT 0,   -- acknowledged
    dismissed    INTEGER NOT NULL DEFAULT 0
);
-- At most one notification per causing event: a redelivered event adds nothing.
CREATE UNIQUE INDEX notifications_event ON notifications (event_id) WHERE event_id IS NOT NULL;
-- The unread count and active listings read only active rows.
CREATE INDEX notifications_active ON notifications (seq) WHERE read = 0 AND dismissed = 0;
