"""Repository for model usage: one row per call, group-committed, summed on demand."""

from __future__ import annotations

from aman.store.sql import SqlDatabase
from aman.store.writer import BatchWriter
from aman.usage.model import UsageRecord

_INSERT = ("INSERT INTO llm_usage (ts, agent_id, session_id, purpose, provider, model, result,"
           " input_tokens, output_tokens, cached_tokens, duration_ms, cost)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
#: What each grouping groups by (fixed SQL, never built from the request); "day" is the
#: dialect's.
_KEYS = {
    "agent": "COALESCE(agent_id, '')",
    "purpose": "purpose",
    "provider": "provider",
    "model": "model",
}


class SqlUsageRepository:
    """Rows of ``llm_usage``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    def add(self, record: UsageRecord) -> None:
        """Queue one call's row; it rides along with the next batch (the turn's own writes)."""
        self._writer.submit(_INSERT, (
            record.ts_ms, record.agent_id, record.session_id, record.purpose, record.provider,
            record.model, record.result, record.input_tokens, record.output_tokens,
            record.cached_tokens, record.duration_ms, record.cost), wake=False)

    async def flush(self) -> None:
        """Wait until queued rows are committed (reads that must see them call this first)."""
        await self._writer.flush()

    async def totals(self, *, from_ms: int, to_ms: int,
                     group_by: str | None) -> list[dict[str, object]]:
        """Calls, tokens and cost in ``[from_ms, to_ms)``, one row per group (or one in all)."""
        dialect = self._db.dialect
        if group_by is None:
            key = "''"
        else:
            key = dialect.utc_day("ts") if group_by == "day" else _KEYS[group_by]
        # Names sort byte-wise whatever the database's collation; one group in all is grouped
        # by position (PostgreSQL refuses a constant), so no calls is no row.
        grouping = (f"GROUP BY {key} ORDER BY {dialect.bytewise(key)}" if group_by
                    else "GROUP BY 1")
        rows = await self._db.fetchall(
            f"SELECT {key} AS grp, COUNT(*) AS calls,"
            " CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,"
            " CAST(SUM(output_tokens) AS BIGINT) AS output_tokens,"
            " CAST(SUM(cached_tokens) AS BIGINT) AS cached_tokens,"
            " SUM(cost) AS cost, SUM(duration_ms) AS duration_ms"
            f" FROM llm_usage WHERE ts >= ? AND ts < ? {grouping}",
            (from_ms, to_ms))
        return [{"key": row["grp"], "calls": row["calls"],
                 "input_tokens": row["input_tokens"] or 0,
                 "output_tokens": row["output_tokens"] or 0,
                 "cached_tokens": row["cached_tokens"] or 0,
                 "cost": round(row["cost"], 6) if row["cost"] is not None else None,
                 "duration_ms": round(row["duration_ms"] or 0.0, 3)} for row in rows]

    async def spent_since(self, since_ms: int) -> list[tuple[str, str, int]]:
        """(agent_id, purpose, tokens) summed since ``since_ms``: today's budget counters."""
        rows = await self._db.fetchall(
            "SELECT COALESCE(agent_id, '') AS agent, purpose,"
            " CAST(SUM(input_tokens + output_tokens) AS BIGINT) AS tokens FROM llm_usage"
            " WHERE ts >= ?"
            " GROUP BY agent, purpose", (since_ms,))
        return [(row["agent"], row["purpose"], int(row["tokens"] or 0)) for row in rows]
