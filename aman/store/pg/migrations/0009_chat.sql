-- 0009 (PostgreSQL): chat sessions: one row per session (its state lives in its workflow instance)
-- and one row per message, so the history survives restarts and never depends on the event log.
CREATE TABLE chat_sessions (
    id              TEXT    PRIMARY KEY,   -- UUIDv7
    instance_id     TEXT    NOT NULL,      -- its message-session workflow instance
    agent_id        TEXT    NOT NULL,
    session_type    TEXT    NOT NULL,      -- persistent | background
    title           TEXT    NOT NULL DEFAULT '',
    version         BIGINT  NOT NULL DEFAULT 0,  -- optimistic-lock counter, bumped by each change
    created_at      BIGINT  NOT NULL,
    last_active_at  BIGINT  NOT NULL
);
CREATE INDEX chat_sessions_by_activity ON chat_sessions (last_active_at DESC, id DESC);
CREATE INDEX chat_sessions_by_agent ON chat_sessions (agent_id, last_active_at DESC, id DESC);
CREATE TABLE chat_messages (
    id             TEXT    PRIMARY KEY,    -- UUIDv7
    session_id     TEXT    NOT NULL,
    seq            BIGINT  NOT NULL,       -- order within the session
    role           TEXT    NOT NULL,       -- user | assistant
    content        TEXT    NOT NULL,
    status         TEXT    NOT NULL,       -- complete | streaming | interrupted | error | superseded
    replaces       TEXT,                   -- the message this one edits or regenerates
    model          TEXT,
    input_tokens   BIGINT ,
    output_tokens  BIGINT ,
    error          TEXT,                   -- JSON {code, message, hint} of a failed reply
    skill          TEXT,                   -- the skill a /name message inlined
    model_text     TEXT,                   -- what the model saw instead of content (a skill body)
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE INDEX chat_messages_streaming ON chat_messages (status) WHERE status = 'streaming';
