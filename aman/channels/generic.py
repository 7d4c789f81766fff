"""Generic: any bridge that can sign its body, the same way aman's own forwarders do.

The sender computes HMAC-SHA256 over the raw body with the channel's secret and sends
``X-Aman-Signature: sha256=<hex>``. The body is ``{text, chat_id, message_id, user?, thread_id?}``
where ``user`` is an id string or ``{id, name?, username?}``; unknown fields are an error, as for
every aman request body. ``X-Aman-Delivery`` names the delivery for deduplication; without it the
message id does.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aman.channels.base import (
    ChannelAdapter,
    ChatUser,
    InboundMessage,
    Verdict,
    hmac_sha256_hex,
    parse,
    same,
)
from aman.errors import ValidationFailedError
from aman.parsing import json_object

SIGNATURE_HEADER = "x-aman-signature"
DELIVERY_HEADER = "x-aman-delivery"
_PREFIX = "sha256="
#: Longest X-Aman-Delivery accepted; dedup keys are stored and indexed.
_MAX_DELIVERY_ID = 200


def generic_signature(secret: bytes, raw_body: bytes) -> str:
    """The ``X-Aman-Signature`` value for this body."""
    return _PREFIX + hmac_sha256_hex(secret, raw_body)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on the first message


def _id_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be a string or an integer")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


class _User(_Strict):
    id: str
    name: str | None = None
    username: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: object) -> str:
        return _id_text(value)


class _Message(_Strict):
    text: str = Field(min_length=1)
    chat_id: str
    message_id: str
    user: _User | str | None = None
    thread_id: str | None = None

    @field_validator("chat_id", "message_id", mode="before")
    @classmethod
    def _ids(cls, value: object) -> str:
        return _id_text(value)

    @field_validator("thread_id", mode="before")
    @classmethod
    def _thread(cls, value: object) -> str | None:
        return None if value is None else _id_text(value)


class GenericAdapter(ChannelAdapter):
    """Inbound messages from a signing bridge."""

    platform = "generic"

    def verify(
        self, headers: Mapping[str, str], raw_body: bytes, secret: bytes, now_ms: int
    ) -> None:
        """``X-Aman-Signature`` must be ``sha256=`` and the body's HMAC under the secret."""
        presented = headers.get(SIGNATURE_HEADER)
        if presented is None:
            raise self.refuse("bad_signature", "header X-Aman-Signature is missing")
        presented = presented.strip()
        if not presented.lower().startswith(_PREFIX):
            raise self.refuse("bad_signature", "X-Aman-Signature must read sha256=<hex>")
        expected = generic_signature(secret, raw_body)
        if not same(expected, _PREFIX + presented[len(_PREFIX) :].lower()):
            raise self.refuse("bad_signature", "X-Aman-Signature does not match the body")

    def classify(self, headers: Mapping[str, str], raw_body: bytes) -> Verdict:
        """Every valid body is a message."""
        body = parse(_Message, json_object(raw_body))
        return InboundMessage(
            text=body.text,
            chat_id=body.chat_id,
            message_id=body.message_id,
            user=_author(body.user),
            thread_id=body.thread_id,
            dedup_key=self._dedup_key(headers.get(DELIVERY_HEADER), body.message_id),
        )

    def _dedup_key(self, delivery: str | None, message_id: str) -> str:
        if delivery is None or not delivery.strip():
            return f"generic:{self.instance}:{message_id}"
        delivery = delivery.strip()
        if len(delivery) > _MAX_DELIVERY_ID:
            raise ValidationFailedError(
                f"header X-Aman-Delivery is longer than {_MAX_DELIVERY_ID} characters"
            )
        # Namespaced, so a sender's delivery id can never claim another source's dedup key.
        return f"generic:{self.instance}:delivery:{delivery}"


def _author(user: _User | str | None) -> ChatUser:
    if user is None:
        return ChatUser(id=None, name=None)
    if isinstance(user, str):
        return ChatUser(id=user, name=user)
    return ChatUser(id=user.id, name=user.name or user.username or user.id, username=user.username)
