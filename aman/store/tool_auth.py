"""Repository for tool approval requests."""

from __future__ import annotations

import builtins

from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter
from aman.tools.model import ToolAuthRequest

_COLUMNS = ("auth_id, code, session_id, agent_id, tool, sensitivity, arguments_summary,"
            " arguments_hash, call_id, status, decided_by, reason, remember, created_at,"
            " expires_at, decided_at")


class SqlToolAuthRepository:
    """Approval requests in ``tool_auth_requests``, in creation order by ``seq``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def insert(self, request: ToolAuthRequest) -> None:
        """Store a new request and wait until it is committed."""
        r = request
        await self._writer.execute([
            (f"INSERT INTO tool_auth_requests ({_COLUMNS})"
             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             (r.auth_id, r.code, r.session_id, r.agent_id, r.tool, r.sensitivity,
              r.arguments_summary, r.arguments_hash, r.call_id, r.status, r.decided_by, r.reason,
              r.remember, r.created_at, r.expires_at, r.decided_at)),
        ])

    async def decide(self, request: ToolAuthRequest) -> None:
        """Store the final state; a row already final keeps its first decision."""
        r = request
        await self._writer.execute([
            ("UPDATE tool_auth_requests SET status = ?, decided_by = ?, reason = ?, remember = ?,"
             " decided_at = ? WHERE auth_id = ? AND status = 'pending'",
             (r.status, r.decided_by, r.reason, r.remember, r.decided_at, r.auth_id)),
        ])

    async def get(self, auth_id: str) -> ToolAuthRequest | None:
        """One request by id."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM tool_auth_requests WHERE auth_id = ?", (auth_id,))
        return _request(row) if row else None

    async def get_by_code(self, code: str) -> ToolAuthRequest | None:
        """The newest request with this code (codes are unique only among pending ones)."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM tool_auth_requests WHERE code = ? ORDER BY seq DESC LIMIT 1",
            (code,))
        return _request(row) if row else None

    async def list_pending(self) -> builtins.list[ToolAuthRequest]:
        """Pending requests, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM tool_auth_requests WHERE status = 'pending' ORDER BY seq")
        return [_request(row) for row in rows]


def _request(row: Row) -> ToolAuthRequest:
    return ToolAuthRequest(
        auth_id=row["auth_id"], code=row["code"], session_id=row["session_id"],
        agent_id=row["agent_id"], tool=row["tool"], sensitivity=row["sensitivity"],
        arguments_summary=row["arguments_summary"], arguments_hash=row["arguments_hash"],
        call_id=row["call_id"], status=row["status"], decided_by=row["decided_by"],
        reason=row["reason"], remember=row["remember"], created_at=int(row["created_at"]),
        expires_at=int(row["expires_at"]),
        decided_at=None if row["decided_at"] is None else int(row["decided_at"]))
