"""Where a conversation lives on its platform, how its key is chosen, and the port a store
implements to remember conversations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

SessionPer = Literal["chat", "thread", "user"]


@dataclass(frozen=True, kw_only=True)
class ReplyTarget:
    """Where a reply is posted: a chat of one channel instance, maybe a thread in it."""

    platform: str
    instance: str
    chat_id: str
    thread_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Stored and event shape (platform and instance are kept beside it)."""
        return {"chat_id": self.chat_id, "thread_id": self.thread_id}

    @classmethod
    def from_json(cls, platform: str, instance: str, data: dict[str, Any]) -> ReplyTarget:
        """The inverse of ``to_json``."""
        return cls(platform=platform, instance=instance, chat_id=str(data["chat_id"]),
                   thread_id=data.get("thread_id"))


def reply_target(platform: str, instance: str, payload: dict[str, Any]) -> ReplyTarget:
    """Where to answer a ``message_received`` payload of a channel.

    Slack answers in the message's thread (a top-level message starts one: its ``ts`` is the
    thread); Telegram in the forum topic the message came from, if any.
    """
    thread = payload.get("thread_id")
    if platform == "slack" and not thread:
        thread = payload.get("message_id")
    return ReplyTarget(platform=platform, instance=instance, chat_id=str(payload["chat_id"]),
                       thread_id=None if thread is None else str(thread))


def conversation_key(platform: str, instance: str, session_per: SessionPer,
                     payload: dict[str, Any]) -> str:
    """The key that picks a message's session: one per chat, per thread, or per user."""
    prefix = f"{platform}:{instance}"
    chat_id = str(payload["chat_id"])
    if session_per == "user":
        user = (payload.get("user") or {}).get("id")
        return f"{prefix}:user:{user if user is not None else 'chat-' + chat_id}"
    if session_per == "thread":
        thread = reply_target(platform, instance, payload).thread_id
        return f"{prefix}:thread:{chat_id}:{thread or '-'}"
    return f"{prefix}:chat:{chat_id}"


class ConversationRepository(Protocol):
    """Storage port for IM conversations: session bindings, reply targets, inbound and sent marks.

    Awaited writes return once committed; ``retarget`` is queued and commits in order.
    """

    async def session_for(self, conversation_key: str) -> str | None:
        """The session a conversation talks to now, if any."""
        ...

    async def bind(self, conversation_key: str, target: ReplyTarget, session_id: str,
                   now: int) -> None:
        """Point the conversation at ``session_id`` and send that session's replies to
        ``target``."""
        ...

    def retarget(self, session_id: str, target: ReplyTarget, now: int) -> None:
        """Send the session's next replies to ``target`` (queued write)."""
        ...

    async def target_of(self, session_id: str) -> ReplyTarget | None:
        """Where replies of ``session_id`` go; None for a session no channel talks to."""
        ...

    async def last_target_of_agent(self, agent_id: str) -> ReplyTarget | None:
        """Where the person last wrote to ``agent_id`` from: the reply target most recently set
        for one of its sessions."""
        ...

    async def inbound_taken(self, dedup_key: str) -> bool:
        """Whether this platform delivery was already handled."""
        ...

    async def take_inbound(self, dedup_key: str, session_id: str | None,
                           message_id: str | None, now: int) -> None:
        """Mark a delivery handled (a second mark of the same key changes nothing)."""
        ...

    async def unsent_replies(self, since_ms: int) -> list[tuple[str, str, str]]:
        """``(message_id, session_id, content)`` of complete assistant replies in sessions with
        a reply target, finished after ``since_ms``, of which no part was sent; oldest first."""
        ...

    async def sent_parts(self, delivery_key: str) -> set[int]:
        """Parts of a delivery the platform already accepted."""
        ...

    async def mark_sent(self, delivery_key: str, part: int, now: int) -> None:
        """Record one accepted part (marking it twice changes nothing)."""
        ...


class CursorRepository(Protocol):
    """Storage port for where a pulling channel instance goes on from (Telegram's next offset)."""

    async def get(self, key: str) -> str | None:
        """The stored position of ``key``, or None before its first advance."""
        ...

    async def advance(self, key: str, position: str, now: int) -> None:
        """Store ``position`` for ``key``; committed before it returns."""
        ...
