-- 0004: skills: enabled state, every distinct content seen, and full-text search.
CREATE TABLE skill_state (
    name        TEXT    PRIMARY KEY,
    enabled     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE skill_versions (
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL,              -- sha256 of the file's text
    version     TEXT,                          -- the file's own version string, if any
    path        TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,              -- moves when a content comes back (rollback)
    PRIMARY KEY (name, hash)
);
CREATE INDEX skill_versions_recent ON skill_versions (name, last_seen DESC);
-- Rebuilt from disk on every reload; bm25 ranks matches.
CREATE VIRTUAL TABLE skills_fts USING fts5(name, description, tags, body, tokenize = 'unicode61');
