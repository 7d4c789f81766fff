"""Repository for the audit log: one hash chain however many daemons append."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aman.audit.model import GENESIS_HASH, AuditQuery, AuditRecord
from aman.errors import StoreError
from aman.store.sql import Row, SqlDatabase

#: The transaction lock appends hold until they commit, where several daemons may share the
#: database: one appender at a time.
AUDIT_APPEND_LOCK = 0x616D616E_0002


class SqlAuditRepository:
    """Audit records in the ``audit_log`` table."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def tail(self) -> tuple[int, str] | None:
        """Id and hash of the newest record."""
        row = await self._db.fetchone("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        return (int(row["id"]), str(row["hash"])) if row else None

    async def append(self, record: AuditRecord) -> None:
        """Insert one record, refused unless it links to the tail the database holds now.

        Where several daemons may share the database, a transaction lock serialises appenders
        across connections and processes, so two can never both extend the same tail.
        """
        lock = self._db.dialect.transaction_lock
        async with self._db.transaction() as tx:
            if lock is not None:
                await tx.execute(lock, (AUDIT_APPEND_LOCK,))
            row = await tx.fetchone("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            tail_hash = str(row["hash"]) if row else GENESIS_HASH
            if record.prev_hash != tail_hash or (row is not None and record.id <= row["id"]):
                raise StoreError(
                    f"audit record {record.id} does not follow the log's tail"
                    f" ({row['id'] if row else 0}); another writer appended first")
            await tx.execute(
                "INSERT INTO audit_log (id, ts_ms, operator, action, target, outcome, detail,"
                " request_id, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.ts_ms,
                    record.operator,
                    record.action,
                    record.target,
                    record.outcome,
                    json.dumps(record.detail, sort_keys=True, ensure_ascii=False),
                    record.request_id,
                    record.prev_hash,
                    record.hash,
                ),
            )

    async def query(
        self, query: AuditQuery, *, before_id: int | None, limit: int
    ) -> list[AuditRecord]:
        """Matching records, newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        if query.action:
            if query.action.endswith("*"):
                clauses.append("action LIKE ? ESCAPE '\\'")
                params.append(_escape_like(query.action[:-1]) + "%")
            else:
                clauses.append("action = ?")
                params.append(query.action)
        for column in ("operator", "target", "outcome"):
            value = getattr(query, column)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.since_ms is not None:
            clauses.append("ts_ms >= ?")
            params.append(query.since_ms)
        if query.until_ms is not None:
            clauses.append("ts_ms <= ?")
            params.append(query.until_ms)
        if query.q:
            needle = "%" + _escape_like(query.q) + "%"
            clauses.append(
                "(action LIKE ? ESCAPE '\\' OR target LIKE ? ESCAPE '\\'"
                " OR operator LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\')"
            )
            params.extend([needle] * 4)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetchall(
            f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [_to_record(row) for row in rows]

    async def iterate(self, batch_size: int) -> AsyncIterator[AuditRecord]:
        """Every record, oldest first, read in batches."""
        after = 0
        while True:
            rows = await self._db.fetchall(
                "SELECT * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?", (after, batch_size)
            )
            for row in rows:
                yield _to_record(row)
            if len(rows) < batch_size:
                return
            after = int(rows[-1]["id"])


def _escape_like(text: str) -> str:
    """Make ``%``, ``_`` and the backslash literal for ``LIKE ... ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _to_record(row: Row) -> AuditRecord:
    return AuditRecord(
        id=int(row["id"]),
        ts_ms=int(row["ts_ms"]),
        operator=row["operator"],
        action=row["action"],
        target=row["target"],
        outcome=row["outcome"],
        detail=json.loads(row["detail"]),
        request_id=row["request_id"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
