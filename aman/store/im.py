"""Repository of IM conversations.

Session bindings, reply targets, inbound and sent marks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aman.channels.model import ReplyTarget
from aman.store.sql import SqlDatabase
from aman.store.writer import BatchWriter


class SqlConversationRepository:
    """The ``im_*`` tables (migration 0012)."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def session_for(self, conversation_key: str) -> str | None:
        """The session a conversation talks to now, if any."""
        row = await self._db.fetchone(
            "SELECT session_id FROM im_conversations WHERE conversation_key = ?",
            (conversation_key,))
        return None if row is None else str(row["session_id"])

    async def bind(self, conversation_key: str, target: ReplyTarget, session_id: str,
                   now: int) -> None:
        """Point the conversation at ``session_id`` and send that session's replies to
        ``target``; committed before it returns."""
        await self._writer.execute([
            ("INSERT INTO im_conversations (conversation_key, session_id, created_at, updated_at)"
             " VALUES (?, ?, ?, ?) ON CONFLICT (conversation_key) DO UPDATE SET"
             " session_id = excluded.session_id, updated_at = excluded.updated_at",
             (conversation_key, session_id, now, now)),
            _target_upsert(session_id, target, now),
        ])

    def retarget(self, session_id: str, target: ReplyTarget, now: int) -> None:
        """Send the session's next replies where its latest message came from (queued write)."""
        sql, params = _target_upsert(session_id, target, now)
        self._writer.submit(sql, params)

    async def target_of(self, session_id: str) -> ReplyTarget | None:
        """Where replies of ``session_id`` go; None for a session no channel talks to."""
        row = await self._db.fetchone(
            "SELECT platform, instance, target FROM im_session_targets WHERE session_id = ?",
            (session_id,))
        if row is None:
            return None
        return ReplyTarget.from_json(str(row["platform"]), str(row["instance"]),
                                     json.loads(row["target"]))

    async def last_target_of_agent(self, agent_id: str) -> ReplyTarget | None:
        """Where the person last wrote to ``agent_id`` from (its newest bound IM session)."""
        row = await self._db.fetchone(
            "SELECT t.platform, t.instance, t.target FROM im_session_targets t"
            " JOIN chat_sessions s ON s.id = t.session_id WHERE s.agent_id = ?"
            " ORDER BY t.updated_at DESC LIMIT 1", (agent_id,))
        if row is None:
            return None
        return ReplyTarget.from_json(row["platform"], row["instance"], json.loads(row["target"]))

    async def inbound_taken(self, dedup_key: str) -> bool:
        """Whether this platform delivery already became a session message."""
        row = await self._db.fetchone("SELECT 1 FROM im_inbound WHERE dedup_key = ?", (dedup_key,))
        return row is not None

    async def take_inbound(self, dedup_key: str, session_id: str | None,
                           message_id: str | None, now: int) -> None:
        """Mark a delivery handled (committed before it returns)."""
        await self._writer.execute([
            ("INSERT INTO im_inbound (dedup_key, session_id, message_id, taken_at)"
             " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
             (dedup_key, session_id, message_id, now)),
        ])

    async def unsent_replies(self, since_ms: int) -> list[tuple[str, str, str]]:
        """``(message_id, session_id, content)`` of complete replies in conversation sessions,
        finished since ``since_ms``, of which no part was sent (a crash lost their fact).

        Reads the chat table too: both live in the one database.
        """
        rows = await self._db.fetchall(
            "SELECT m.id, m.session_id, m.content FROM chat_messages m"
            " JOIN im_session_targets t ON t.session_id = m.session_id"
            " WHERE m.role = 'assistant' AND m.status = 'complete' AND m.updated_at > ?"
            " AND NOT EXISTS (SELECT 1 FROM im_sent_parts p"
            "                 WHERE p.delivery_key = 'reply:' || m.id)"
            " ORDER BY m.updated_at", (since_ms,))
        return [(str(r["id"]), str(r["session_id"]), str(r["content"])) for r in rows]

    async def sent_parts(self, delivery_key: str) -> set[int]:
        """Parts of a delivery the platform already accepted."""
        rows = await self._db.fetchall(
            "SELECT part FROM im_sent_parts WHERE delivery_key = ?", (delivery_key,))
        return {int(row["part"]) for row in rows}

    async def mark_sent(self, delivery_key: str, part: int, now: int) -> None:
        """Record one accepted part (committed before it returns, so a retry skips it)."""
        await self._writer.execute([
            ("INSERT INTO im_sent_parts (delivery_key, part, sent_at) VALUES (?, ?, ?)"
             " ON CONFLICT DO NOTHING",
             (delivery_key, part, now)),
        ])


def _target_upsert(session_id: str, target: ReplyTarget,
                   now: int) -> tuple[str, Sequence[object]]:
    return ("INSERT INTO im_session_targets (session_id, platform, instance, target, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
            " platform = excluded.platform, instance = excluded.instance,"
            " target = excluded.target, updated_at = excluded.updated_at",
            (session_id, target.platform, target.instance, json.dumps(target.to_json()), now))
