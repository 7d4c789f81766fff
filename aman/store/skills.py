"""Repository for skills: enabled state, version history and the full-text search index
(SQLite's FTS5 table, or PostgreSQL's ``tsvector`` column, as the dialect says)."""

from __future__ import annotations

import re
from typing import Any

from aman.skills.model import IndexEntry, SkillVersionRow
from aman.store.sql import SqlDatabase

_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """A safe FTS5 MATCH expression: each word quoted, prefix-matched, any word may hit."""
    return " OR ".join(f'"{token}"*' for token in _TOKEN.findall(text.lower()))


def ts_query(text: str) -> str:
    """A safe ``to_tsquery`` expression: each word quoted, prefix-matched, any word may hit."""
    return " | ".join(f"'{token}':*" for token in _TOKEN.findall(text.lower()))


#: Best matches first, per text-search engine: (query builder, SQL taking the query and the
#: limit, whether a larger rank is better).
_SEARCH = {
    "fts5": (fts_query,
             "SELECT name, bm25(skills_fts, 10.0, 4.0, 3.0, 1.0) AS rank,"
             " snippet(skills_fts, -1, '[', ']', '...', 12) AS snippet"
             " FROM skills_fts WHERE skills_fts MATCH ? ORDER BY rank LIMIT ?", False),
    "tsvector": (ts_query,
                 "SELECT name, ts_rank(doc, q) AS rank, ts_headline('simple',"
                 " description || ' ' || tags || ' ' || body, q,"
                 " 'StartSel=[, StopSel=], MaxWords=12, MinWords=4, ShortWord=0') AS snippet"
                 " FROM skills_fts, to_tsquery('simple', ?) AS q WHERE doc @@ q"
                 " ORDER BY rank DESC, name LIMIT ?", True),
}


class SqlSkillRepository:
    """Tables ``skill_state``, ``skill_versions`` and ``skills_fts``."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def disabled(self) -> set[str]:
        """Names switched off by an operator."""
        rows = await self._db.fetchall("SELECT name FROM skill_state WHERE enabled = 0")
        return {row["name"] for row in rows}

    async def set_enabled(self, name: str, enabled: bool, now_ms: int) -> None:
        """Persist the switch."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO skill_state (name, enabled, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled,"
                " updated_at = excluded.updated_at", (name, int(enabled), now_ms))

    async def latest_hashes(self) -> dict[str, str]:
        """The most recently seen content hash of every skill."""
        rows = await self._db.fetchall(
            "SELECT name, hash FROM skill_versions v WHERE last_seen ="
            " (SELECT MAX(last_seen) FROM skill_versions w WHERE w.name = v.name)")
        return {row["name"]: row["hash"] for row in rows}

    async def record_versions(self, rows: list[tuple[str, str, str | None, str, str]],
                              now_ms: int) -> None:
        """Note ``(name, hash, version, path, content)`` as seen now (new or come back)."""
        if not rows:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO skill_versions (name, hash, version, path, content, first_seen,"
                " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name, hash) DO UPDATE"
                " SET last_seen = excluded.last_seen, path = excluded.path",
                [(*row, now_ms, now_ms) for row in rows])

    async def versions(self, name: str) -> list[SkillVersionRow]:
        """Every distinct content of ``name``, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM skill_versions WHERE name = ? ORDER BY last_seen DESC, first_seen DESC",
            (name,))
        return [SkillVersionRow(r["name"], r["hash"], r["version"], r["path"], r["first_seen"],
                                r["last_seen"], r["content"]) for r in rows]

    async def reindex(self, entries: list[IndexEntry], *, only: list[str] | None = None) -> None:
        """Replace the whole index with ``entries``, or just the rows of the names in ``only``."""
        if only is not None and not only:
            return
        async with self._db.transaction() as tx:
            if only is None:
                await tx.execute("DELETE FROM skills_fts")
            else:
                await tx.executemany("DELETE FROM skills_fts WHERE name = ?", [(n,) for n in only])
            await tx.executemany(
                "INSERT INTO skills_fts (name, description, tags, body) VALUES (?, ?, ?, ?)",
                [(e.name, e.description, e.tags, e.body) for e in entries])

    async def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Best matches first: ``{name, score, snippet}`` (score: larger is better)."""
        build, sql, larger_is_better = _SEARCH[self._db.dialect.text_search]
        match = build(text)
        if not match:
            return []
        rows = await self._db.fetchall(sql, (match, limit))
        sign = 1.0 if larger_is_better else -1.0
        return [{"name": r["name"], "score": round(sign * float(r["rank"]), 6),
                 "snippet": r["snippet"]} for r in rows]
