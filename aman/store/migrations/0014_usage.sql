-- 0014: what every model call cost, and why it ran. A chat session remembers its purpose
-- (chat, idle, explore, delegate, heartbeat...) so its turns are counted under it.
ALTER TABLE chat_sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'chat';
CREATE TABLE llm_usage (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ts            INTEGER NOT NULL,        -- epoch ms the call ended
    agent_id      TEXT,
    session_id    TEXT,
    purpose       TEXT    NOT NULL,        -- chat | heartbeat | idle | explore | cron | memory_flush | delegate
    provider      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    result        TEXT    NOT NULL,        -- ok | error | cancelled
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    duration_ms   REAL    NOT NULL,
    cost          REAL                     -- in the currency of llm.providers.<name>.prices
);
CREATE INDEX llm_usage_by_time ON llm_usage (ts);
CREATE INDEX llm_usage_by_agent ON llm_usage (agent_id, ts);
