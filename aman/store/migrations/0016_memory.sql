-- 0016: memory. Every content a memory file had (who wrote it and why), and full-text search
-- over memory files, imported notes and finished chat messages (FTS5, ranked by BM25).
CREATE TABLE memory_versions (
    agent_id TEXT    NOT NULL,
    target   TEXT    NOT NULL,   -- memory | user
    version  INTEGER NOT NULL,
    content  TEXT    NOT NULL,
    author   TEXT    NOT NULL,   -- agent:<id>, a person, or disk (an edit by hand)
    reason   TEXT    NOT NULL,
    ts       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, target, version)
);
-- Memory files and imported notes, one row per line group; rebuilt per agent when they change.
CREATE VIRTUAL TABLE memory_fts USING fts5(
    text, agent_id UNINDEXED, path UNINDEXED, line UNINDEXED, ts UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Finished chat messages; the rowid is the message row's, so keeping it in step is cheap.
CREATE VIRTUAL TABLE chat_fts USING fts5(
    content, tokenize = 'unicode61 remove_diacritics 2'
);
-- How many messages hold each word: a search leaves out words too common to tell messages apart.
CREATE VIRTUAL TABLE chat_fts_vocab USING fts5vocab(chat_fts, 'row');
INSERT INTO chat_fts (rowid, content)
    SELECT rowid, content FROM chat_messages WHERE status = 'complete';
CREATE TRIGGER chat_fts_insert AFTER INSERT ON chat_messages WHEN new.status = 'complete'
BEGIN
    INSERT INTO chat_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER chat_fts_update AFTER UPDATE OF status, content ON chat_messages
    WHEN old.status = 'complete' OR new.status = 'complete'
BEGIN
    DELETE FROM chat_fts WHERE rowid = old.rowid;
    INSERT INTO chat_fts (rowid, content)
        SELECT new.rowid, new.content WHERE new.status = 'complete';
END;
CREATE TRIGGER chat_fts_delete AFTER DELETE ON chat_messages WHEN old.status = 'complete'
BEGIN
    DELETE FROM chat_fts WHERE rowid = old.rowid;
END;
