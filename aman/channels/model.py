"""Where a conversation lives on its platform, and how its key is chosen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
