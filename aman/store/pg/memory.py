"""PostgreSQL repository for memory: file versions, and full-text search of memory and chats.

Search uses PostgreSQL's own text search ('simple' configuration: words as written, no
stemming). Scores follow the embedded store's sign: smaller is better (the negated rank).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aman.memory.model import MemoryVersion
from aman.store.pg.db import PgDatabase

_WORD = re.compile(r"\w+", re.U)
_HEADLINE = "'StartSel=[, StopSel=], MaxWords=16, MinWords=6, ShortWord=0'"
#: The indexed expression of finished messages (the migration's expression index).
_MESSAGE_DOC = "to_tsvector('simple', m.content)"


def ts_query(text: str, *, every: bool = False) -> str | None:
    """A ``to_tsquery`` expression for free text: each word quoted (no operator syntax); with
    ``every`` all words must match, else any may."""
    words = _WORD.findall(text.lower())[:32]
    return (" & " if every else " | ").join(f"'{w}'" for w in words) if words else None


class PgMemoryRepository:
    """Rows of ``memory_versions`` and ``memory_fts``; chat messages searched in place."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def latest(self, agent_id: str, target: str) -> MemoryVersion | None:
        """The newest stored version of a file."""
        row = await self._db.fetchone(
            "SELECT * FROM memory_versions WHERE agent_id = $1 AND target = $2"
            " ORDER BY version DESC LIMIT 1", (agent_id, target))
        return _version(row) if row is not None else None

    async def version(self, agent_id: str, target: str, version: int) -> MemoryVersion | None:
        """One stored version."""
        row = await self._db.fetchone(
            "SELECT * FROM memory_versions WHERE agent_id = $1 AND target = $2 AND version = $3",
            (agent_id, target, version))
        return _version(row) if row is not None else None

    async def versions(self, agent_id: str, target: str) -> list[MemoryVersion]:
        """Every version of a file, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM memory_versions WHERE agent_id = $1 AND target = $2"
            " ORDER BY version DESC", (agent_id, target))
        return [_version(row) for row in rows]

    async def add(self, version: MemoryVersion) -> None:
        """Store a new version (committed before the file is announced)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO memory_versions (agent_id, target, version, content, author, reason,"
                " ts) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                (version.agent_id, version.target, version.version, version.content,
                 version.author, version.reason, version.ts_ms))

    async def reindex(self, agent_id: str, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Replace the agent's searchable memory: ``(path, line, ts, text)`` rows."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM memory_fts WHERE agent_id = $1", (agent_id,))
            await tx.executemany(
                "INSERT INTO memory_fts (text, agent_id, path, line, ts)"
                " VALUES ($1, $2, $3, $4, $5)",
                [(text, agent_id, path, line, ts) for path, line, ts, text in rows])

    async def search_memory(self, agent_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Memory and imported-note lines matching ``query``, best first."""
        match = ts_query(query)
        if match is None:
            return []
        rows = await self._db.fetchall(
            f"SELECT path, line, ts, ts_headline('simple', text, q, {_HEADLINE}) AS snippet,"
            " -ts_rank(doc, q) AS score FROM memory_fts, to_tsquery('simple', $1) AS q"
            " WHERE doc @@ q AND agent_id = $2 ORDER BY score, path, line LIMIT $3",
            (match, agent_id, limit))
        return [{"kind": "memory", "path": r["path"], "line": r["line"], "ts": r["ts"],
                 "snippet": r["snippet"], "score": float(r["score"])} for r in rows]

    async def search_chats(self, query: str, limit: int, *, agent_id: str | None,
                           exclude_sessions: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Finished chat messages matching ``query`` (of one agent's sessions), best first.

        Messages holding every word come first; any word is tried only when those are too few.
        """
        found: list[dict[str, Any]] = []
        for every in (True, False):
            match = ts_query(query, every=every)
            if match is None:
                return []
            seen = {hit["message_id"] for hit in found}
            found += [hit for hit in await self._ranked(match, limit, agent_id, exclude_sessions)
                      if hit["message_id"] not in seen]
            if len(found) >= limit:
                break
        return found[:limit]

    async def _ranked(self, match: str, limit: int, agent_id: str | None,
                      exclude_sessions: Sequence[str]) -> list[dict[str, Any]]:
        params: list[object] = [match, limit]
        where = [f"m.status = 'complete' AND {_MESSAGE_DOC} @@ q"]
        if agent_id is not None:
            params.append(agent_id)
            where.append(f"s.agent_id = ${len(params)}")
        if exclude_sessions:
            params.append(list(exclude_sessions))
            where.append(f"NOT (m.session_id = ANY(${len(params)}::text[]))")
        rows = await self._db.fetchall(
            "SELECT m.id, m.session_id, m.role, m.created_at, s.agent_id,"
            f" -ts_rank({_MESSAGE_DOC}, q) AS score,"
            f" ts_headline('simple', m.content, q, {_HEADLINE}) AS snippet"
            " FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id,"
            " to_tsquery('simple', $1) AS q"
            f" WHERE {' AND '.join(where)} ORDER BY score, m.created_at DESC LIMIT $2", params)
        return [{"kind": "message", "session_id": r["session_id"], "message_id": r["id"],
                 "role": r["role"], "agent_id": r["agent_id"], "ts": r["created_at"],
                 "snippet": r["snippet"], "score": float(r["score"])} for r in rows]

    async def im_sessions(self, agent_id: str) -> list[tuple[str, str, str, str]]:
        """(session id, platform, instance, target JSON) of the agent's IM sessions."""
        rows = await self._db.fetchall(
            "SELECT t.session_id, t.platform, t.instance, t.target FROM im_session_targets t"
            " JOIN chat_sessions s ON s.id = t.session_id WHERE s.agent_id = $1", (agent_id,))
        return [(r["session_id"], r["platform"], r["instance"], r["target"]) for r in rows]


def _version(row: Any) -> MemoryVersion:
    return MemoryVersion(agent_id=row["agent_id"], target=row["target"], version=row["version"],
                         content=row["content"], author=row["author"], reason=row["reason"],
                         ts_ms=row["ts"])
