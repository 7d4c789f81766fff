"""The PostgreSQL database: its connection pool, event log and migrations (the repositories are
the store's own, which run on it through its dialect)."""
