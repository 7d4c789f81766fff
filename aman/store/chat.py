"""Repository of chat sessions and their messages.

Changes a caller answers on (a user message, a finished reply, a version bump) are awaited
through the group-committing writer; the partial text of a streaming reply is queued, at most
once a second, and guarded by ``status = 'streaming'`` so a late partial never overwrites a
finished reply (the writer orders a batch's inserts before its updates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aman.chat.model import (
    ChatSession,
    StoredMessage,
    decode_error,
    decode_steps,
    encode_error,
    encode_steps,
)
from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter

_SESSION_COLUMNS = ("s.id, s.instance_id, s.agent_id, s.session_type, s.title, s.version,"
                    " s.created_at, s.last_active_at, s.purpose,"
                    " (SELECT COUNT(*) FROM chat_messages m"
                    " WHERE m.session_id = s.id AND m.status != 'superseded') AS message_count")
_MESSAGE_COLUMNS = ("id, session_id, seq, role, content, status, replaces, model, input_tokens,"
                    " output_tokens, error, skill, model_text, created_at, updated_at, tool_steps")
_INSERT_MESSAGE = (f"INSERT INTO chat_messages ({_MESSAGE_COLUMNS})"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_TOUCH = "UPDATE chat_sessions SET version = ?, last_active_at = ? WHERE id = ?"
_PARTIAL = ("UPDATE chat_messages SET content = ?, updated_at = ?"
            " WHERE id = ? AND status = 'streaming'")
_FINISH = ("UPDATE chat_messages SET status = ?, content = ?, model = ?, input_tokens = ?,"
           " output_tokens = ?, error = ?, updated_at = ?, tool_steps = ? WHERE id = ?")
_SUPERSEDE_RANGE = ("UPDATE chat_messages SET status = 'superseded', updated_at = ?"
                    " WHERE session_id = ? AND seq >= ? AND seq < ? AND status != 'superseded'")
_SUPERSEDE_ONE = ("UPDATE chat_messages SET status = 'superseded', updated_at = ?"
                  " WHERE id = ? AND status != 'superseded'")


def _session(row: Row) -> ChatSession:
    return ChatSession(id=row["id"], instance_id=row["instance_id"], agent_id=row["agent_id"],
                       session_type=row["session_type"], title=row["title"],
                       version=int(row["version"]), created_at=int(row["created_at"]),
                       last_active_at=int(row["last_active_at"]),
                       message_count=int(row["message_count"]), purpose=row["purpose"])


def _message(row: Row) -> StoredMessage:
    return StoredMessage(
        id=row["id"], session_id=row["session_id"], seq=int(row["seq"]), role=row["role"],
        content=row["content"], status=row["status"], replaces=row["replaces"],
        model=row["model"], input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"], error=decode_error(row["error"]), skill=row["skill"],
        model_text=row["model_text"], created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]), tool_steps=decode_steps(row["tool_steps"]))


def _insert(message: StoredMessage) -> tuple[str, Sequence[Any]]:
    return _INSERT_MESSAGE, (
        message.id, message.session_id, message.seq, message.role, message.content,
        message.status, message.replaces, message.model, message.input_tokens,
        message.output_tokens, encode_error(message.error), message.skill, message.model_text,
        message.created_at, message.updated_at, encode_steps(message.tool_steps))


class SqlChatRepository:
    """Tables ``chat_sessions`` and ``chat_messages``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    # --- sessions --------------------------------------------------------------------------

    async def create_session(self, session: ChatSession) -> None:
        """Store a new session; returns once committed."""
        await self._writer.execute([(
            "INSERT INTO chat_sessions (id, instance_id, agent_id, session_type, title, version,"
            " created_at, last_active_at, purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session.id, session.instance_id, session.agent_id, session.session_type,
             session.title, session.version, session.created_at, session.last_active_at,
             session.purpose))])

    async def session(self, session_id: str) -> ChatSession | None:
        """One session with its count of visible messages."""
        row = await self._db.fetchone(
            f"SELECT {_SESSION_COLUMNS} FROM chat_sessions s WHERE s.id = ?", (session_id,))
        return _session(row) if row is not None else None

    async def page_sessions(self, *, agent_id: str | None, after: tuple[int, str] | None,
                            limit: int) -> list[ChatSession]:
        """Sessions most recently active first, after the (last_active_at, id) position."""
        where: list[str] = []
        params: list[object] = []
        if agent_id is not None:
            where.append("s.agent_id = ?")
            params.append(agent_id)
        if after is not None:
            where.append("(s.last_active_at < ? OR (s.last_active_at = ? AND s.id < ?))")
            params += [after[0], after[0], after[1]]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM chat_sessions s{clause}"
            " ORDER BY s.last_active_at DESC, s.id DESC LIMIT ?", (*params, limit))
        return [_session(row) for row in rows]

    async def touch(self, session_id: str, *, version: int, now: int) -> None:
        """Set the version and the last activity; returns once committed."""
        await self._writer.execute([(_TOUCH, (version, now, session_id))])

    async def delete_session(self, session_id: str) -> int:
        """Remove the session and its messages; return how many messages went."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM chat_messages WHERE session_id = ?", (session_id,))
        await self._writer.execute([
            ("DELETE FROM chat_messages WHERE session_id = ?", (session_id,)),
            ("DELETE FROM chat_sessions WHERE id = ?", (session_id,))])
        return int(row["n"]) if row else 0

    async def prune(self, session_id: str, keep: int) -> int:
        """Delete all but the newest ``keep`` messages of the session; return how many went."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM chat_messages WHERE session_id = ?", (session_id,))
        total = int(row["n"]) if row else 0
        if total <= keep:
            return 0
        await self._writer.execute([(
            "DELETE FROM chat_messages WHERE session_id = ? AND seq < (SELECT MIN(seq) FROM"
            " (SELECT seq FROM chat_messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?)"
            " AS kept)",
            (session_id, session_id, keep))])
        return total - keep

    async def sessions_in_states(self, states: Sequence[str]) -> list[tuple[str, str]]:
        """(session id, instance id) of sessions whose workflow instance is in ``states``."""
        if not states:
            return []
        marks = ", ".join("?" for _ in states)
        rows = await self._db.fetchall(
            "SELECT s.id, s.instance_id FROM chat_sessions s JOIN workflow_instances w"
            f" ON w.id = s.instance_id WHERE w.state IN ({marks})", tuple(states))
        return [(row["id"], row["instance_id"]) for row in rows]

    # --- messages --------------------------------------------------------------------------

    async def last_seq(self, session_id: str) -> int:
        """The highest seq in the session (0 when empty)."""
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(seq), 0) AS n FROM chat_messages WHERE session_id = ?",
            (session_id,))
        return int(row["n"]) if row else 0

    async def message(self, message_id: str) -> StoredMessage | None:
        """One message by id."""
        row = await self._db.fetchone(
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE id = ?", (message_id,))
        return _message(row) if row is not None else None

    async def messages(self, session_id: str, *, include_superseded: bool = False,
                       after_seq: int = 0, limit: int | None = None) -> list[StoredMessage]:
        """The session's messages in order, from ``after_seq`` on."""
        visible = "" if include_superseded else " AND status != 'superseded'"
        bounded = " LIMIT ?" if limit else ""
        rows = await self._db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = ? AND seq > ?"
            f"{visible} ORDER BY seq{bounded}",
            (session_id, after_seq, limit) if limit else (session_id, after_seq))
        return [_message(row) for row in rows]

    async def streaming(self) -> list[StoredMessage]:
        """Messages left ``streaming`` (a crash cut their reply short)."""
        rows = await self._db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE status = 'streaming'")
        return [_message(row) for row in rows]

    async def add_user_message(self, message: StoredMessage, *, version: int, now: int,
                               supersede_from: int | None = None) -> None:
        """Store a user message and bump the session in one commit; an edit first supersedes
        every message from ``supersede_from`` up to the new one."""
        statements = [_insert(message), (_TOUCH, (version, now, message.session_id))]
        if supersede_from is not None:
            statements.append((_SUPERSEDE_RANGE,
                               (now, message.session_id, supersede_from, message.seq)))
        await self._writer.execute(statements)

    async def add_exchange(self, messages: Sequence[StoredMessage], *, version: int,
                           now: int) -> None:
        """Store finished messages and bump the session in one commit."""
        session_id = messages[0].session_id
        await self._writer.execute([*(_insert(m) for m in messages),
                                    (_TOUCH, (version, now, session_id))])

    def start_reply(self, message: StoredMessage) -> None:
        """Queue the insert of a reply that starts streaming (not awaited: first token first)."""
        sql, params = _insert(message)
        self._writer.submit(sql, params)

    def save_partial(self, message_id: str, content: str, now: int) -> None:
        """Queue the partial text of a streaming reply."""
        self._writer.submit(_PARTIAL, (content, now, message_id))

    async def finish(self, message: StoredMessage) -> None:
        """Store a reply's final status, text, tokens and error; returns once committed."""
        await self._writer.execute([(_FINISH, (
            message.status, message.content, message.model, message.input_tokens,
            message.output_tokens, encode_error(message.error), message.updated_at,
            encode_steps(message.tool_steps), message.id))])

    async def supersede(self, message_id: str, session_id: str, *, version: int,
                        now: int) -> None:
        """Mark a reply superseded (a retry regenerates it) and bump the session."""
        await self._writer.execute([(_SUPERSEDE_ONE, (now, message_id)),
                                    (_TOUCH, (version, now, session_id))])

    async def interrupt(self, message_ids: Sequence[str], error: dict[str, Any],
                        now: int) -> None:
        """Mark replies that were streaming as interrupted (crash recovery)."""
        if not message_ids:
            return
        await self._writer.execute([(
            "UPDATE chat_messages SET status = 'interrupted', error = ?, updated_at = ?"
            " WHERE id = ? AND status = 'streaming'", (encode_error(error), now, mid))
            for mid in message_ids])
