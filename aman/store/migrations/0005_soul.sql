-- 0005: the soul's version history: every distinct content the active soul had,
-- so an update or an edit on disk can always be traced and undone by hand.
CREATE TABLE soul_versions (
    id          INTEGER PRIMARY KEY,
    soul        TEXT    NOT NULL,             -- the soul's file name (souls.active)
    hash        TEXT    NOT NULL,             -- sha256 of the content
    content     TEXT    NOT NULL,
    operator    TEXT    NOT NULL,             -- who: an API operator, 'boot' or 'file'
    reason      TEXT    NOT NULL,             -- boot | update | file
    created_at  INTEGER NOT NULL
);
CREATE INDEX soul_versions_newest ON soul_versions (soul, id DESC);
