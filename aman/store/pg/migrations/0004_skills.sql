-- 0004 (PostgreSQL): skills: enabled state, every distinct content seen, and full-text search.
CREATE TABLE skill_state (
    name        TEXT    PRIMARY KEY,
    enabled     BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE TABLE skill_versions (
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL,              -- sha256 of the file's text
    version     TEXT,                          -- the file's own version string, if any
    path        TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    first_seen  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,              -- moves when a content comes back (rollback)
    PRIMARY KEY (name, hash)
);
CREATE INDEX skill_versions_recent ON skill_versions (name, last_seen DESC);
-- Rebuilt from disk on every reload; ts_rank ranks matches, the name weighing most, then the
-- description, the tags and the body (the 'simple' configuration: no language's stemming).
CREATE TABLE skills_fts (
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    tags        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    doc         tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('simple', name), 'A')
                    || setweight(to_tsvector('simple', description), 'B')
                    || setweight(to_tsvector('simple', tags), 'C')
                    || setweight(to_tsvector('simple', body), 'D')) STORED
);
CREATE INDEX skills_fts_doc ON skills_fts USING gin (doc);
