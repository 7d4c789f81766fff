"""Repository for heartbeat runs."""

from __future__ import annotations

from aman.heartbeat.model import HeartbeatRun
from aman.store.sql import SqlDatabase
from aman.store.writer import BatchWriter

_COLUMNS = ("id, agent_id, ts, trigger, outcome, reason, session_id, input_tokens, "
            "output_tokens, delivered_to, text")


class SqlHeartbeatRepository:
    """Rows of ``heartbeat_runs``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def add(self, run: HeartbeatRun) -> None:
        """Store one tick (committed before it is announced)."""
        await self._writer.execute([(
            f"INSERT INTO heartbeat_runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run.id, run.agent_id, run.ts_ms, run.trigger, run.outcome, run.reason,
             run.session_id, run.input_tokens, run.output_tokens, run.delivered_to, run.text))])

    async def recent(self, agent_id: str, limit: int) -> list[HeartbeatRun]:
        """The agent's latest ticks, newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM heartbeat_runs WHERE agent_id = ? ORDER BY ts DESC, id DESC"
            " LIMIT ?", (agent_id, limit))
        return [HeartbeatRun(id=r["id"], agent_id=r["agent_id"], ts_ms=r["ts"],
                             trigger=r["trigger"], outcome=r["outcome"], reason=r["reason"],
                             session_id=r["session_id"], input_tokens=r["input_tokens"],
                             output_tokens=r["output_tokens"], delivered_to=r["delivered_to"],
                             text=r["text"]) for r in rows]
