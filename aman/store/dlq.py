"""Repository for DLQ entries."""

from __future__ import annotations

import json
from typing import Any

from aman.events.model import DlqEntry, DlqQuery, Event
from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter


class SqlDlqRepository:
    """DLQ entries in the ``dlq`` table."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def insert(self, entry: DlqEntry) -> None:
        """Store a new entry and wait for the commit."""
        await self._writer.execute([(
            "INSERT INTO dlq (id, event_id, handler, source, event_type, reason, attempts,"
            " manual_retries, status, enqueued_at, expires_at, warned_days, updated_at, history,"
            " event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.id, entry.event.id, entry.handler, entry.event.source, entry.event.event_type,
             entry.reason, entry.attempts, entry.manual_retries, entry.status,
             entry.enqueued_at_ms, entry.expires_at_ms, entry.warned_days, entry.updated_at_ms,
             _history_json(entry.history), json.dumps(entry.event.to_json())),
        )])

    async def update(self, entry: DlqEntry) -> None:
        """Write the mutable fields and wait for the commit."""
        await self._writer.execute([(
            "UPDATE dlq SET reason = ?, manual_retries = ?, status = ?, warned_days = ?,"
            " updated_at = ?, history = ? WHERE id = ?",
            (entry.reason, entry.manual_retries, entry.status, entry.warned_days,
             entry.updated_at_ms, _history_json(entry.history), entry.id),
        )])

    async def get(self, entry_id: str) -> DlqEntry | None:
        """One entry."""
        row = await self._db.fetchone("SELECT * FROM dlq WHERE id = ?", (entry_id,))
        return _entry(row) if row else None

    async def page(self, query: DlqQuery, after: tuple[int, str] | None,
                   limit: int) -> list[DlqEntry]:
        """Entries oldest first; the text filters ignore (ASCII) case."""
        clauses = ["status = ?"]
        params: list[Any] = [query.status]
        for column in ("reason", "source", "event_type"):
            value = getattr(query, column)
            if value:
                clauses.append(f"lower({column}) = lower(?)")
                params.append(value)
        if after is not None:
            clauses.append("(enqueued_at, id) > (?, ?)")
            params.extend(after)
        rows = await self._db.fetchall(
            f"SELECT * FROM dlq WHERE {' AND '.join(clauses)} ORDER BY enqueued_at, id LIMIT ?",
            (*params, limit),
        )
        return [_entry(row) for row in rows]

    async def depth(self) -> int:
        """Active and retrying entries."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM dlq WHERE status IN ('active', 'retrying')"
        )
        return int(row["n"]) if row else 0

    async def active_expiring_before(self, when_ms: int) -> list[DlqEntry]:
        """Active entries expiring before ``when_ms``."""
        rows = await self._db.fetchall(
            "SELECT * FROM dlq WHERE status = 'active' AND expires_at < ? ORDER BY expires_at",
            (when_ms,),
        )
        return [_entry(row) for row in rows]


def _entry(row: Row) -> DlqEntry:
    return DlqEntry(
        id=row["id"],
        event=Event.from_json(json.loads(row["event"])),
        handler=row["handler"],
        reason=row["reason"],
        attempts=int(row["attempts"]),
        manual_retries=int(row["manual_retries"]),
        status=row["status"],
        enqueued_at_ms=int(row["enqueued_at"]),
        expires_at_ms=int(row["expires_at"]),
        updated_at_ms=int(row["updated_at"]),
        warned_days=row["warned_days"],
        history=json.loads(row["history"]),
    )


def _history_json(history: list[dict[str, Any]]) -> str:
    return json.dumps(history, separators=(",", ":"), ensure_ascii=False)
