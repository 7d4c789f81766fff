-- 0016 (PostgreSQL): memory. Every content a memory file had (who wrote it and why), and full-text search
-- over memory files, imported notes and finished chat messages (FTS5, ranked by BM25).
CREATE TABLE memory_versions (
    agent_id TEXT    NOT NULL,
    target   TEXT    NOT NULL,   -- memory | user
    version  BIGINT  NOT NULL,
    content  TEXT    NOT NULL,
    author   TEXT    NOT NULL,   -- agent:<id>, a person, or disk (an edit by hand)
    reason   TEXT    NOT NULL,
    ts       BIGINT  NOT NULL,
    PRIMARY KEY (agent_id, target, version)
);
-- Memory files and imported notes, one row per line group; rebuilt per agent when they change.
CREATE TABLE memory_fts (
    text     TEXT    NOT NULL,
    agent_id TEXT,
    path     TEXT,
    line     BIGINT,
    ts       BIGINT,
    doc      tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX memory_fts_doc ON memory_fts USING gin (doc);
CREATE INDEX memory_fts_agent ON memory_fts (agent_id);
-- Finished chat messages are searched in place: an expression index instead of a copy.
CREATE INDEX chat_messages_fts ON chat_messages USING gin (to_tsvector('simple', content))
    WHERE status = 'complete';
