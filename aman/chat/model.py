"""Chat records: a session and its stored messages.

A session is a row that points at its ``message-session`` workflow instance (which holds the
state); its messages are rows of their own, so the history never depends on the event log.
``ChatRepository`` is the port a store implements to keep them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant"]
#: complete: final; streaming: being generated; interrupted: stopped (stop, shutdown or crash)
#: with its partial text; error: the provider failed (partial text kept); superseded: replaced by
#: an edit or a retry, kept for ``?all=true``.
MessageStatus = Literal["complete", "streaming", "interrupted", "error", "superseded"]
SessionType = Literal["persistent", "background"]
SESSION_TYPES: tuple[str, ...] = ("persistent", "background")


@dataclass(frozen=True)
class ChatSession:
    """One chat session as stored (its state lives in the workflow instance)."""

    id: str
    instance_id: str
    agent_id: str
    session_type: str
    title: str
    version: int
    created_at: int
    last_active_at: int
    message_count: int = 0
    #: Why the session exists, for usage and budgets: chat (a person), idle, explore, delegate,
    #: heartbeat...; every turn of the session counts under it.
    purpose: str = "chat"

    def to_json(self, state: str) -> dict[str, Any]:
        """Wire shape, with the state read from the workflow instance."""
        return {"id": self.id, "state": state, "version": self.version,
                "agent_id": self.agent_id, "title": self.title,
                "session_type": self.session_type, "message_count": self.message_count,
                "created_at": self.created_at, "last_active_at": self.last_active_at,
                "workflow_instance_id": self.instance_id}


@dataclass(frozen=True)
class StoredMessage:
    """One message of a session's history."""

    id: str
    session_id: str
    seq: int
    role: str
    content: str
    status: str
    created_at: int
    updated_at: int
    replaces: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: ``{code, message, hint}`` of a failed reply.
    error: dict[str, Any] | None = None
    #: The skill a ``/name`` message inlined, and the text the model saw instead of ``content``.
    skill: str | None = None
    model_text: str | None = None
    #: The tool rounds of a reply, oldest first: ``{text, calls: [{id, name, arguments}],
    #: results: [{call_id, tool, status, output}]}`` (``content`` holds all of its text).
    tool_steps: list[dict[str, Any]] | None = None

    @property
    def prompt_text(self) -> str:
        """What the model sees for this message."""
        return self.model_text if self.model_text is not None else self.content

    def with_changes(self, **changes: Any) -> StoredMessage:
        """A copy with fields replaced."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Wire shape (``model_text`` stays internal: it can hold a whole skill body)."""
        return {"id": self.id, "session_id": self.session_id, "seq": self.seq, "role": self.role,
                "content": self.content, "status": self.status, "replaces": self.replaces,
                "model": self.model, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "error": self.error, "skill": self.skill,
                "tool_steps": self.tool_steps, "created_at": self.created_at,
                "updated_at": self.updated_at}


def encode_error(error: dict[str, Any] | None) -> str | None:
    """The stored form of a message's error."""
    return json.dumps(error, separators=(",", ":")) if error else None


def encode_steps(steps: list[dict[str, Any]] | None) -> str | None:
    """The stored form of a reply's tool rounds."""
    return json.dumps(steps, separators=(",", ":"), default=str) if steps else None


def decode_steps(raw: str | None) -> list[dict[str, Any]] | None:
    """Read stored tool rounds back."""
    value = json.loads(raw) if raw else None
    return value if isinstance(value, list) else None


def decode_error(raw: str | None) -> dict[str, Any] | None:
    """Read a stored error back (old plain text becomes its message)."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"code": "error", "message": raw, "hint": ""}
    return value if isinstance(value, dict) else {"code": "error", "message": str(value),
                                                  "hint": ""}


@dataclass(frozen=True)
class Prepared:
    """A user message after the content policy, the boundary check and skill expansion."""

    content: str
    model_text: str | None
    skill: str | None
    applied: list[dict[str, str]]


@dataclass(frozen=True)
class Receipt:
    """The answer to send and edit; ``reply`` completes with the finished reply."""

    event_id: str
    message_id: str
    version: int
    reply: asyncio.Future[StoredMessage | None]
    audit: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The 202 body."""
        return {"ok": True, "event_id": self.event_id, "message_id": self.message_id,
                "version": self.version}


class SessionHolds(Protocol):
    """Keeps a session's work on one daemon at a time among those sharing the store."""

    async def acquire(self, name: str) -> None:
        """Wait until ``name`` is this caller's alone, on every daemon."""
        ...

    async def try_acquire(self, name: str) -> bool:
        """Take ``name`` if nobody holds it now; False (not waiting) when someone does."""
        ...

    async def release(self, name: str) -> None:
        """Give ``name`` back."""
        ...


class NoHolds:
    """Holds for a daemon alone on its store: nothing to wait for."""

    async def acquire(self, name: str) -> None:
        """Granted at once."""

    async def try_acquire(self, name: str) -> bool:
        """Granted at once."""
        return True

    async def release(self, name: str) -> None:
        """Nothing to give back."""


class ChatRepository(Protocol):
    """Storage port for chat sessions and their messages.

    Awaited writes return once committed; the queued ones (``start_reply``, ``save_partial``)
    commit in order before anything written after them.
    """

    async def create_session(self, session: ChatSession) -> None:
        """Store a new session."""
        ...

    async def session(self, session_id: str) -> ChatSession | None:
        """One session with its count of visible (not superseded) messages."""
        ...

    async def page_sessions(self, *, agent_id: str | None, after: tuple[int, str] | None,
                            limit: int) -> list[ChatSession]:
        """Sessions most recently active first, after the (last_active_at, id) position."""
        ...

    async def touch(self, session_id: str, *, version: int, now: int) -> None:
        """Set the version and the last activity."""
        ...

    async def delete_session(self, session_id: str) -> int:
        """Remove the session and its messages; return how many messages went."""
        ...

    async def prune(self, session_id: str, keep: int) -> int:
        """Delete all but the newest ``keep`` messages of the session; return how many went."""
        ...

    async def sessions_in_states(self, states: Sequence[str]) -> list[tuple[str, str]]:
        """(session id, instance id) of sessions whose workflow instance is in ``states``."""
        ...

    async def last_seq(self, session_id: str) -> int:
        """The highest message seq in the session (0 when empty)."""
        ...

    async def message(self, message_id: str) -> StoredMessage | None:
        """One message by id."""
        ...

    async def messages(self, session_id: str, *, include_superseded: bool = False,
                       after_seq: int = 0, limit: int | None = None) -> list[StoredMessage]:
        """The session's messages in seq order, from ``after_seq`` on."""
        ...

    async def streaming(self) -> list[StoredMessage]:
        """Messages left streaming (a crash cut their reply short)."""
        ...

    async def add_user_message(self, message: StoredMessage, *, version: int, now: int,
                               supersede_from: int | None = None) -> None:
        """Store a user message and bump the session together; an edit first supersedes every
        message from ``supersede_from`` up to the new one."""
        ...

    async def add_exchange(self, messages: Sequence[StoredMessage], *, version: int,
                           now: int) -> None:
        """Store finished messages and bump the session together."""
        ...

    def start_reply(self, message: StoredMessage) -> None:
        """Queue the insert of a reply that starts streaming."""
        ...

    def save_partial(self, message_id: str, content: str, now: int) -> None:
        """Queue the partial text of a reply; ignored once the reply has finished."""
        ...

    async def finish(self, message: StoredMessage) -> None:
        """Store a reply's final status, text, tokens, error and tool steps."""
        ...

    async def supersede(self, message_id: str, session_id: str, *, version: int,
                        now: int) -> None:
        """Mark a reply superseded and bump the session."""
        ...

    async def interrupt(self, message_ids: Sequence[str], error: dict[str, Any],
                        now: int) -> None:
        """Mark replies still streaming as interrupted with ``error``."""
        ...
