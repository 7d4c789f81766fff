-- 0013 (PostgreSQL): scoped API keys made through POST /auth/keys. Only the SHA-256 of a secret is stored;
-- keys given in the config file live there, not here.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,          -- JSON list
    agents       TEXT,                      -- JSON list, or NULL for every agent
    hash         TEXT    NOT NULL UNIQUE,   -- "sha256:<hex>"
    prefix       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT ,
    revoked_at   BIGINT ,
    last_used_at BIGINT 
);
