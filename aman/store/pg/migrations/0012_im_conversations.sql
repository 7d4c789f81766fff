-- 0012 (PostgreSQL): IM conversations. Which chat session a channel conversation talks to, where
-- each session's replies go, which inbound messages were taken, and which reply parts were
-- sent, so neither a redelivery nor a DLQ retry sends anything twice.
CREATE TABLE im_conversations (
    conversation_key TEXT    PRIMARY KEY,   -- <platform>:<instance>:<chat|thread|user>:<id...>
    session_id       TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
-- Every session ever bound keeps its reply target, so a reply still running after /new arrives.
CREATE TABLE im_session_targets (
    session_id TEXT    PRIMARY KEY,
    platform   TEXT    NOT NULL,
    instance   TEXT    NOT NULL,
    target     TEXT    NOT NULL,             -- JSON {chat_id, thread_id, user_id}
    updated_at BIGINT  NOT NULL
);
CREATE TABLE im_inbound (
    dedup_key  TEXT    PRIMARY KEY,          -- the platform's delivery identity
    session_id TEXT,
    message_id TEXT,
    taken_at   BIGINT  NOT NULL
);
CREATE TABLE im_sent_parts (
    delivery_key TEXT    NOT NULL,           -- reply:<message id>, notice:<...>
    part         BIGINT  NOT NULL,
    sent_at      BIGINT  NOT NULL,
    PRIMARY KEY (delivery_key, part)
);
