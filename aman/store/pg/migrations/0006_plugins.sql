-- 0006 (PostgreSQL): whether each plugin is enabled. A plugin without a row follows its manifest's
-- enabled_by_default.
CREATE TABLE plugin_state (
    name       TEXT    PRIMARY KEY,
    enabled    BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
