"""What every inbound IM adapter shares: the verdicts it returns and the checks it runs first.

An adapter turns one webhook request (headers, raw body, the time) into a verdict. It knows
nothing of HTTP or of the bus: the inbox publishes its messages and the route turns verdicts into
responses. Every adapter refuses a disabled channel and a channel without a secret before it
looks at the request, verifies the request its platform's own way before it parses the body, and
drops messages from chats outside ``allowed_chats``.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from aman.config.reach import ChannelSettings, intake_mode
from aman.errors import ForbiddenError, UnauthorizedError
from aman.parsing import parse_model

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, kw_only=True)
class ChatUser:
    """Who wrote a message, as far as the platform says."""

    id: str | None
    name: str | None
    username: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire shape; ``username`` is always present (null when the platform has none)."""
        return {"id": self.id, "name": self.name, "username": self.username}


@dataclass(frozen=True, kw_only=True)
class InboundMessage:
    """A message normalized across platforms; the payload of ``message_received``."""

    text: str
    chat_id: str
    message_id: str
    user: ChatUser
    thread_id: str | None
    #: The platform's own delivery identity, so its retries are enqueued once.
    dedup_key: str
    edited: bool = False

    def payload(self, platform: str, instance: str) -> dict[str, Any]:
        """The event payload, with the reply target a sender needs to answer in place."""
        return {
            "text": self.text,
            "platform": platform,
            "instance": instance,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "user": self.user.to_json(),
            "thread_id": self.thread_id,
            "edited": self.edited,
            "reply_target": {
                "platform": platform,
                "instance": instance,
                "chat_id": self.chat_id,
                "thread_id": self.thread_id,
            },
        }


@dataclass(frozen=True)
class Challenge:
    """A handshake the platform expects answered with ``reply`` (Slack url_verification)."""

    reply: dict[str, Any]


@dataclass(frozen=True)
class Ignored:
    """A verified update that carries no message for the agent (joins, reactions, bot echoes)."""

    reason: str


@dataclass(frozen=True)
class Dropped:
    """A verified message refused by policy; ``reason`` is ``stranger`` for unlisted chats."""

    reason: str
    message: InboundMessage


Verdict = Challenge | Ignored | Dropped | InboundMessage


class ChannelAdapter(ABC):
    """One configured channel instance of one platform; immutable, replaced whole on reload."""

    platform: ClassVar[str]

    def __init__(self, instance: str, config: ChannelSettings) -> None:
        self.instance = instance
        self.config = config

    @property
    def name(self) -> str:
        """``<platform>/<instance>``, as audit records and messages name the channel."""
        return f"{self.platform}/{self.instance}"

    def receive(self, headers: Mapping[str, str], raw_body: bytes, now_ms: int) -> Verdict:
        """Refuse, verify, parse and classify one request; raise an ``AmanError`` to refuse."""
        self._check_enabled()
        mode = intake_mode(self.platform, self.config)
        if mode != "webhook":
            # Taken by polling or a socket already; a second way in would only race it.
            raise ForbiddenError(
                f"IM channel {self.name} takes its messages in mode {mode}, not by webhook",
                code="webhook_not_in_use",
                hint=f"Set channels.{self.platform}.{self.instance}.mode: webhook (with a secret) "
                "to receive webhooks instead.",
            )
        secret = self.config.secret.get_secret_value()
        if not secret:
            raise UnauthorizedError(
                f"IM channel {self.name} has no secret configured, so it refuses every request",
                code="secret_not_configured",
                hint=f"Set channels.{self.platform}.{self.instance}.secret (it can be written as "
                f'"${{ENV_VAR}}"), then POST /im-channel/{self.platform}/{self.instance}/reload.',
            )
        lowered = {key.lower(): value for key, value in headers.items()}
        self.verify(lowered, raw_body, secret.encode(), now_ms)
        return self._screen(self.classify(lowered, raw_body))

    def accept(self, body: dict[str, Any]) -> Verdict:
        """Classify one update the daemon pulled itself (long polling, a socket it opened).

        No signature to check: the daemon asked the platform, with its token, over TLS. The
        same classification and allow list as a webhook request apply.
        """
        self._check_enabled()
        return self._screen(self.classify_body(body))

    def classify_body(self, body: dict[str, Any]) -> Verdict:
        """Classify a parsed body; platforms whose updates can be pulled override this."""
        raise NotImplementedError(f"{self.platform} updates cannot be pulled")

    def _screen(self, verdict: Verdict) -> Verdict:
        if isinstance(verdict, InboundMessage) and self._is_stranger(verdict.chat_id):
            return Dropped("stranger", verdict)
        return verdict

    def _check_enabled(self) -> None:
        if not self.config.enabled:
            raise ForbiddenError(
                f"IM channel {self.name} is disabled",
                code="channel_disabled",
                hint=f"Set channels.{self.platform}.{self.instance}.enabled: true, then "
                f"POST /im-channel/{self.platform}/{self.instance}/reload.",
            )

    @abstractmethod
    def verify(
        self, headers: Mapping[str, str], raw_body: bytes, secret: bytes, now_ms: int
    ) -> None:
        """Raise ``UnauthorizedError`` unless the request comes from the platform.

        ``headers`` have lower-case names.
        """

    @abstractmethod
    def classify(self, headers: Mapping[str, str], raw_body: bytes) -> Verdict:
        """Parse a verified body into a verdict (allowed_chats is applied afterwards)."""

    def _is_stranger(self, chat_id: str) -> bool:
        allowed = self.config.allowed_chats
        return bool(allowed) and chat_id not in allowed

    def refuse(self, code: str, message: str, *, hint: str | None = None) -> UnauthorizedError:
        """An authentication failure of this channel, with the fix in the hint."""
        return UnauthorizedError(
            f"IM channel {self.name}: {message}; nothing was enqueued",
            code=code,
            hint=hint
            or f"The request must be signed with channels.{self.platform}.{self.instance}.secret; "
            "check that the platform and aman hold the same secret.",
        )


def hmac_sha256_hex(secret: bytes, data: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``data``."""
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def same(expected: str, presented: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(expected.encode(), presented.encode())


def parse(model: type[M], data: Any, *, prefix: str = "body") -> M:
    """Validate a platform payload against ``model``; the error names each failing field path."""
    return parse_model(model, data, prefix=prefix, what="message")


def as_id(value: object) -> str | None:
    """A platform id (number or string) as a string; ``None`` stays ``None``."""
    return None if value is None else str(value)
