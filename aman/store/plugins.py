"""Repository for the enabled/disabled state of plugins."""

from __future__ import annotations

from aman.store.sql import SqlDatabase


class SqlPluginStateRepository:
    """Rows of ``plugin_state``: one per plugin an operator enabled or disabled."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def all(self) -> dict[str, bool]:
        """Plugin name → enabled, for every plugin with a stored choice."""
        rows = await self._db.fetchall("SELECT name, enabled FROM plugin_state")
        return {row["name"]: bool(row["enabled"]) for row in rows}

    async def set(self, name: str, enabled: bool, *, now_ms: int) -> None:
        """Store the choice for ``name``."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO plugin_state (name, enabled, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled,"
                " updated_at = excluded.updated_at",
                (name, int(enabled), now_ms))

    async def forget(self, name: str) -> None:
        """Drop the stored choice (the plugin was uninstalled)."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM plugin_state WHERE name = ?", (name,))
