"""The PostgreSQL store: the same repositories as the embedded one, for a shared server."""
