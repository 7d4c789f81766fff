"""Repository of IM intake cursors: where a pulling channel instance goes on from."""

from __future__ import annotations

from aman.store.sql import SqlDatabase
from aman.store.writer import BatchWriter


class SqlCursorRepository:
    """The ``im_cursors`` table (migration 0017)."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def get(self, key: str) -> str | None:
        """The stored position of ``key``, or None before its first advance."""
        row = await self._db.fetchone("SELECT position FROM im_cursors WHERE cursor_key = ?",
                                      (key,))
        return None if row is None else str(row["position"])

    async def advance(self, key: str, position: str, now: int) -> None:
        """Store ``position`` for ``key``; committed before it returns."""
        await self._writer.execute([
            ("INSERT INTO im_cursors (cursor_key, position, updated_at) VALUES (?, ?, ?)"
             " ON CONFLICT (cursor_key) DO UPDATE SET position = excluded.position,"
             " updated_at = excluded.updated_at", (key, position, now)),
        ])
