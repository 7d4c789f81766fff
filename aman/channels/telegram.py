"""Telegram: the Bot API webhook, verified by the ``secret_token`` given to ``setWebhook``.

Telegram signs nothing; it sends the secret back verbatim in ``X-Telegram-Bot-Api-Secret-Token``
on every request, so the check is a constant-time comparison. The body is an ``Update``; its
``message``, ``edited_message``, ``channel_post`` and ``edited_channel_post`` become messages and
every other kind (callback queries, member changes, polls, …) is ignored. ``update_id`` is the
delivery identity that Telegram's retries repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aman.channels.base import (
    ChannelAdapter,
    ChatUser,
    Ignored,
    InboundMessage,
    Verdict,
    as_id,
    parse,
    same,
)
from aman.parsing import json_object

SECRET_HEADER = "x-telegram-bot-api-secret-token"

#: Update fields that carry a message, and whether that message is an edit.
_MESSAGE_FIELDS = (
    ("message", False),
    ("edited_message", True),
    ("channel_post", False),
    ("edited_channel_post", True),
)


class _Lenient(BaseModel):
    # Telegram adds fields to its types in every Bot API release; unknown ones are ignored.
    model_config = ConfigDict(extra="ignore", populate_by_name=True,
                              defer_build=True)  # built on the first message


class _User(_Lenient):
    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None


class _Chat(_Lenient):
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class _Message(_Lenient):
    message_id: int
    sender: _User | None = Field(None, alias="from")
    sender_chat: _Chat | None = None
    chat: _Chat
    date: int
    text: str | None = None
    caption: str | None = None
    message_thread_id: int | None = None


class _Update(_Lenient):
    update_id: int
    message: _Message | None = None
    edited_message: _Message | None = None
    channel_post: _Message | None = None
    edited_channel_post: _Message | None = None


class TelegramAdapter(ChannelAdapter):
    """Inbound Telegram updates for one bot."""

    platform = "telegram"

    def verify(
        self, headers: Mapping[str, str], raw_body: bytes, secret: bytes, now_ms: int
    ) -> None:
        """The secret token header must equal the configured secret."""
        presented = headers.get(SECRET_HEADER)
        problem = None
        if presented is None:
            problem = "header X-Telegram-Bot-Api-Secret-Token is missing"
        elif not same(secret.decode(), presented):
            problem = "header X-Telegram-Bot-Api-Secret-Token does not match"
        if problem is not None:
            raise self.refuse(
                "bad_secret_token",
                problem,
                hint="Call setWebhook with secret_token equal to "
                f"channels.telegram.{self.instance}.secret.",
            )

    def classify(self, headers: Mapping[str, str], raw_body: bytes) -> Verdict:
        """A message-carrying update with text (or a caption) becomes a message."""
        return self.classify_body(json_object(raw_body))

    def classify_body(self, body: dict[str, Any]) -> Verdict:
        """One ``Update``, from the webhook or from ``getUpdates``."""
        update = parse(_Update, body)
        for field, edited in _MESSAGE_FIELDS:
            message: _Message | None = getattr(update, field)
            if message is None:
                continue
            text = message.text if message.text is not None else message.caption
            if not text:
                return Ignored(f"{field} without text")
            return InboundMessage(
                text=text,
                chat_id=str(message.chat.id),
                message_id=str(message.message_id),
                user=_author(message),
                thread_id=as_id(message.message_thread_id),
                dedup_key=f"telegram:{self.instance}:{update.update_id}",
                edited=edited,
            )
        return Ignored("update without a message")


def _author(message: _Message) -> ChatUser:
    # Channel posts and anonymous group admins speak as a chat (sender_chat), not as a user.
    if message.sender_chat is not None:
        chat = message.sender_chat
        return ChatUser(id=str(chat.id), name=chat.title or chat.username, username=chat.username)
    if message.sender is not None:
        user = message.sender
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        return ChatUser(id=str(user.id), name=name or user.username, username=user.username)
    return ChatUser(id=None, name=None)
