"""Repository for memory: file versions, and full-text search of memory and chats.

Search runs on the engine the dialect names: SQLite's FTS5 tables (BM25), or PostgreSQL's own
text search ('simple' configuration: words as written, no stemming; chat messages searched in
place through an expression index). Scores keep one sign on both: smaller is better.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aman.memory.model import MemoryVersion
from aman.store.sql import SqlDatabase

_WORD = re.compile(r"\w+", re.U)
#: A word in more messages than this tells few of them apart: it is left out of a search that
#: has rarer words, and a search of only such words looks at the newest messages only.
_COMMON_DOCS = 2_000
_RECENT_ROWS = 20_000


_HEADLINE = "'StartSel=[, StopSel=], MaxWords=16, MinWords=6, ShortWord=0'"
#: The indexed expression of finished messages (PostgreSQL's expression index).
_MESSAGE_DOC = "to_tsvector('simple', m.content)"


def match_query(text: str, *, every: bool = False) -> str | None:
    """An FTS5 query for free text: each word quoted (no operator syntax); with ``every`` all
    words must match, else any may."""
    words = _WORD.findall(text)[:32]
    return (" " if every else " OR ").join(f'"{w}"' for w in words) if words else None


def ts_query(text: str, *, every: bool = False) -> str | None:
    """A ``to_tsquery`` expression for free text: each word quoted (no operator syntax); with
    ``every`` all words must match, else any may."""
    words = _WORD.findall(text.lower())[:32]
    return (" & " if every else " | ").join(f"'{w}'" for w in words) if words else None


#: Memory lines matching a query (its one ``?``), of one agent, best (smallest score) first.
_MEMORY_SEARCH = {
    "fts5": (match_query,
             "SELECT path, line, ts, snippet(memory_fts, 0, '[', ']', '…', 16) AS snippet,"
             " bm25(memory_fts) AS score FROM memory_fts WHERE memory_fts MATCH ?"
             " AND agent_id = ? ORDER BY score LIMIT ?"),
    "tsvector": (ts_query,
                 f"SELECT path, line, ts, ts_headline('simple', text, q, {_HEADLINE})"
                 " AS snippet, -ts_rank(doc, q) AS score"
                 " FROM memory_fts, to_tsquery('simple', ?) AS q"
                 " WHERE doc @@ q AND agent_id = ? ORDER BY score, path, line LIMIT ?"),
}


class SqlMemoryRepository:
    """Rows of ``memory_versions`` and ``memory_fts``; chat messages through ``chat_fts``
    (SQLite) or in place (PostgreSQL)."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def latest(self, agent_id: str, target: str) -> MemoryVersion | None:
        """The newest stored version of a file."""
        row = await self._db.fetchone(
            "SELECT * FROM memory_versions WHERE agent_id = ? AND target = ?"
            " ORDER BY version DESC LIMIT 1", (agent_id, target))
        return _version(row) if row is not None else None

    async def version(self, agent_id: str, target: str, version: int) -> MemoryVersion | None:
        """One stored version."""
        row = await self._db.fetchone(
            "SELECT * FROM memory_versions WHERE agent_id = ? AND target = ? AND version = ?",
            (agent_id, target, version))
        return _version(row) if row is not None else None

    async def versions(self, agent_id: str, target: str) -> list[MemoryVersion]:
        """Every version of a file, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM memory_versions WHERE agent_id = ? AND target = ?"
            " ORDER BY version DESC", (agent_id, target))
        return [_version(row) for row in rows]

    async def add(self, version: MemoryVersion) -> None:
        """Store a new version (committed before the file is announced)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO memory_versions (agent_id, target, version, content, author, reason,"
                " ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (version.agent_id, version.target, version.version, version.content,
                 version.author, version.reason, version.ts_ms))

    async def reindex(self, agent_id: str, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Replace the agent's searchable memory: ``(path, line, ts, text)`` rows."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM memory_fts WHERE agent_id = ?", (agent_id,))
            await tx.executemany(
                "INSERT INTO memory_fts (text, agent_id, path, line, ts) VALUES (?, ?, ?, ?, ?)",
                [(text, agent_id, path, line, ts) for path, line, ts, text in rows])

    async def search_memory(self, agent_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Memory and imported-note lines matching ``query``, best first."""
        build, sql = _MEMORY_SEARCH[self._db.dialect.text_search]
        match = build(query)
        if match is None:
            return []
        rows = await self._db.fetchall(sql, (match, agent_id, limit))
        return [{"kind": "memory", "path": r["path"], "line": r["line"], "ts": r["ts"],
                 "snippet": r["snippet"], "score": float(r["score"])} for r in rows]

    async def search_chats(self, query: str, limit: int, *, agent_id: str | None,
                           exclude_sessions: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Finished chat messages matching ``query`` (of one agent's sessions), best first.

        Messages holding every word come first; any word is tried only when those are too
        few. With FTS5, ranking reads the index alone; rows, scope and snippets are fetched for
        the best candidates only, so a common word over many messages stays cheap.
        """
        words = _WORD.findall(query)[:32]
        if not words:
            return []
        fts5 = self._db.dialect.text_search == "fts5"
        chosen, recent_only = (await self._rare_words(words) if fts5 else (query, False))
        found: list[dict[str, Any]] = []
        for every in (True, False):
            match = (match_query if fts5 else ts_query)(chosen, every=every)
            if match is None:
                return []
            seen = {hit["message_id"] for hit in found}
            ranked = (await self._ranked_fts5(match, limit, agent_id, exclude_sessions,
                                              recent_only=recent_only) if fts5
                      else await self._ranked_tsvector(match, limit, agent_id, exclude_sessions))
            found += [hit for hit in ranked if hit["message_id"] not in seen]
            if len(found) >= limit:
                break
        return found[:limit]

    async def _rare_words(self, words: list[str]) -> tuple[str, bool]:
        """The words to search by (the rarer ones, from FTS5's vocabulary table) and whether
        only the newest messages are worth ranking (every word is common)."""
        counts = {row["term"]: row["doc"] for row in await self._db.fetchall(
            f"SELECT term, doc FROM chat_fts_vocab WHERE term IN ({', '.join('?' for _ in words)})",
            [w.lower() for w in words])}
        rare = [w for w in words if counts.get(w.lower(), 0) <= _COMMON_DOCS]
        return " ".join(rare or words), not rare

    async def _ranked_tsvector(self, match: str, limit: int, agent_id: str | None,
                               exclude_sessions: Sequence[str]) -> list[dict[str, Any]]:
        scope, params = _scope(agent_id, exclude_sessions)
        where = [f"m.status = 'complete' AND {_MESSAGE_DOC} @@ q", *scope]
        rows = await self._db.fetchall(
            "SELECT m.id, m.session_id, m.role, m.created_at, s.agent_id,"
            f" -ts_rank({_MESSAGE_DOC}, q) AS score,"
            f" ts_headline('simple', m.content, q, {_HEADLINE}) AS snippet"
            " FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id,"
            " to_tsquery('simple', ?) AS q"
            f" WHERE {' AND '.join(where)} ORDER BY score, m.created_at DESC LIMIT ?",
            (match, *params, limit))
        return [_message_hit(r, r["snippet"], float(r["score"])) for r in rows]

    async def _ranked_fts5(self, match: str, limit: int, agent_id: str | None,
                           exclude_sessions: Sequence[str], *,
                           recent_only: bool) -> list[dict[str, Any]]:
        # Scope filters may drop candidates: take a generous slice of the best, then filter.
        recent = ("AND rowid > (SELECT COALESCE(MAX(rowid), 0) FROM chat_messages) - ?"
                  if recent_only else "AND ? >= 0")
        candidates = await self._db.fetchall(
            f"SELECT rowid, rank FROM chat_fts WHERE chat_fts MATCH ? {recent}"
            " ORDER BY rank LIMIT ?", (match, _RECENT_ROWS, max(limit * 20, 200)))
        if not candidates:
            return []
        rank = {row["rowid"]: row["rank"] for row in candidates}
        marks = ", ".join("?" for _ in rank)
        scope, params = _scope(agent_id, exclude_sessions)
        rows = await self._db.fetchall(
            "SELECT m.rowid, m.id, m.session_id, m.role, m.created_at, s.agent_id"
            " FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id"
            f" WHERE {' AND '.join([f'm.rowid IN ({marks})', *scope])}", [*rank, *params])
        best = sorted(rows, key=lambda r: rank[r["rowid"]])[:limit]
        if not best:
            return []
        snippets = {row["rowid"]: row["snippet"] for row in await self._db.fetchall(
            "SELECT rowid, snippet(chat_fts, 0, '[', ']', '…', 16) AS snippet FROM chat_fts"
            f" WHERE chat_fts MATCH ? AND rowid IN ({', '.join('?' for _ in best)})",
            [match, *(r["rowid"] for r in best)])}
        return [_message_hit(r, snippets.get(r["rowid"], ""), rank[r["rowid"]]) for r in best]

    async def im_sessions(self, agent_id: str) -> list[tuple[str, str, str, str]]:
        """(session id, platform, instance, target JSON) of the agent's IM sessions."""
        rows = await self._db.fetchall(
            "SELECT t.session_id, t.platform, t.instance, t.target FROM im_session_targets t"
            " JOIN chat_sessions s ON s.id = t.session_id WHERE s.agent_id = ?", (agent_id,))
        return [(r["session_id"], r["platform"], r["instance"], r["target"]) for r in rows]


def _scope(agent_id: str | None,
           exclude_sessions: Sequence[str]) -> tuple[list[str], list[object]]:
    """The conditions (and their parameters) keeping a chat search to one agent's sessions and
    out of ``exclude_sessions``."""
    where: list[str] = []
    params: list[object] = []
    if agent_id is not None:
        where.append("s.agent_id = ?")
        params.append(agent_id)
    if exclude_sessions:
        where.append(f"m.session_id NOT IN ({', '.join('?' for _ in exclude_sessions)})")
        params.extend(exclude_sessions)
    return where, params


def _message_hit(row: Any, snippet: str, score: float) -> dict[str, Any]:
    return {"kind": "message", "session_id": row["session_id"], "message_id": row["id"],
            "role": row["role"], "agent_id": row["agent_id"], "ts": row["created_at"],
            "snippet": snippet, "score": score}


def _version(row: Any) -> MemoryVersion:
    return MemoryVersion(agent_id=row["agent_id"], target=row["target"], version=row["version"],
                         content=row["content"], author=row["author"], reason=row["reason"],
                         ts_ms=row["ts"])
