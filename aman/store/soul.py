"""Repository for the soul's version history."""

from __future__ import annotations

from aman.soul.model import SoulVersion
from aman.store.sql import Row, SqlDatabase


class SqlSoulRepository:
    """Soul versions in the ``soul_versions`` table."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def add(self, *, soul: str, hash: str, content: str, operator: str, reason: str,
                  created_at_ms: int) -> SoulVersion:
        """Store one version and return it (committed)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO soul_versions (soul, hash, content, operator, reason, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (soul, hash, content, operator, reason, created_at_ms),
            )
        assert row is not None  # RETURNING always yields the inserted row
        return SoulVersion(id=int(row["id"]), soul=soul, hash=hash, content=content,
                           operator=operator, reason=reason, created_at_ms=created_at_ms)

    async def latest(self, soul: str) -> SoulVersion | None:
        """The newest version of ``soul``."""
        row = await self._db.fetchone(
            "SELECT * FROM soul_versions WHERE soul = ? ORDER BY id DESC LIMIT 1", (soul,))
        return _version(row) if row else None

    async def list(self, soul: str, limit: int) -> list[SoulVersion]:
        """Versions of ``soul``, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM soul_versions WHERE soul = ? ORDER BY id DESC LIMIT ?", (soul, limit))
        return [_version(row) for row in rows]


def _version(row: Row) -> SoulVersion:
    return SoulVersion(id=row["id"], soul=row["soul"], hash=row["hash"], content=row["content"],
                       operator=row["operator"], reason=row["reason"],
                       created_at_ms=row["created_at"])
