"""Repository for the API keys made through the API (config keys are not stored)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aman.auth.model import ApiKey
from aman.store.sql import Row, SqlDatabase


def _key(row: Row) -> ApiKey:
    agents = json.loads(row["agents"]) if row["agents"] is not None else None
    return ApiKey(id=row["id"], name=row["name"], scopes=tuple(json.loads(row["scopes"])),
                  agents=tuple(agents) if agents is not None else None, hash=row["hash"],
                  prefix=row["prefix"], created_at_ms=row["created_at"],
                  expires_at_ms=row["expires_at"], revoked_at_ms=row["revoked_at"],
                  last_used_at_ms=row["last_used_at"], origin="api")


class SqlApiKeyRepository:
    """Rows of ``api_keys``."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def all(self) -> list[ApiKey]:
        """Every stored key, revoked ones included, oldest first."""
        rows = await self._db.fetchall("SELECT * FROM api_keys ORDER BY created_at, id")
        return [_key(row) for row in rows]

    async def add(self, key: ApiKey) -> None:
        """Store a new key (committed before the caller shows its secret)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO api_keys (id, name, scopes, agents, hash, prefix, created_at,"
                " expires_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key.id, key.name, json.dumps(list(key.scopes)),
                 json.dumps(list(key.agents)) if key.agents is not None else None, key.hash,
                 key.prefix, key.created_at_ms, key.expires_at_ms, key.revoked_at_ms,
                 key.last_used_at_ms))

    async def revoke(self, key_id: str, *, now_ms: int) -> None:
        """Mark a key revoked (kept for the listing and the audit trail)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now_ms, key_id))

    async def touch(self, last_used: Mapping[str, int]) -> None:
        """Record when each key was last used (batched: one transaction for all)."""
        if not last_used:
            return
        async with self._db.transaction() as tx:
            await tx.executemany("UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                                 [(ms, key_id) for key_id, ms in last_used.items()])
