-- 0006: whether each plugin is enabled. A plugin without a row follows its manifest's
-- enabled_by_default.
CREATE TABLE plugin_state (
    name       TEXT    PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
