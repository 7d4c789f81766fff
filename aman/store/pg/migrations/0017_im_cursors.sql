-- 0017 (PostgreSQL): IM intake cursors. How far a pulling channel instance has taken its platform's
-- updates (Telegram getUpdates: the next offset), advanced only once the update's event is
-- committed, so a restart neither loses nor repeats one.
CREATE TABLE im_cursors (
    cursor_key TEXT    PRIMARY KEY,   -- <platform>:<instance>:<bot id>
    position   TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);
