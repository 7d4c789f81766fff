"""Slack: the Events API, verified with the app's signing secret (v0 request signing).

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 and sends
``X-Slack-Signature: v0=<hex>``. A request whose timestamp is more than five minutes from now is
refused, so a captured request cannot be replayed later. The ``url_verification`` handshake is
answered with its challenge once the signature holds. ``event_callback`` bodies whose event is a
human ``message`` or an ``app_mention`` become messages, deduplicated by the message's channel and
``ts`` (which Slack's retries, ``X-Slack-Retry-Num``, repeat). Socket Mode envelopes carry the same
bodies (``aman.channels.socket_mode``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aman.channels.base import (
    Challenge,
    ChannelAdapter,
    ChatUser,
    Ignored,
    InboundMessage,
    Verdict,
    hmac_sha256_hex,
    parse,
    same,
)
from aman.parsing import json_object

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
#: Slack's documented replay window: refuse requests signed more than five minutes from now.
REPLAY_WINDOW_SEC = 300
#: Message subtypes written by a person; every other subtype (edits, deletions, joins, bot
#: posts, …) is a change notice, not something to answer.
_HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
#: A mention starting a text (``<@U123>`` or ``<@U123|name>``), taken off when it names the app.
_MENTION = re.compile(r"^\s*<@([A-Z0-9]+)(?:\|[^>]*)?>[\s:,]*")


def slack_signature(secret: bytes, timestamp: str, raw_body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack sends for this timestamp and body."""
    return "v0=" + hmac_sha256_hex(secret, b"v0:" + timestamp.encode() + b":" + raw_body)


class _Lenient(BaseModel):
    # Slack adds fields to its payloads freely; unknown ones are ignored.
    model_config = ConfigDict(extra="ignore", defer_build=True)  # built on the first message


class _Challenge(_Lenient):
    challenge: str = Field(min_length=1)


class _Profile(_Lenient):
    name: str | None = None
    real_name: str | None = None
    display_name: str | None = None


class _MessageEvent(_Lenient):
    user: str | None = None
    user_profile: _Profile | None = None
    channel: str
    text: str = ""
    ts: str
    thread_ts: str | None = None


class _EventEnvelope(_Lenient):
    event_id: str = Field(min_length=1)
    event: dict[str, object]


class SlackAdapter(ChannelAdapter):
    """Inbound Slack events for one app."""

    platform = "slack"

    def verify(
        self, headers: Mapping[str, str], raw_body: bytes, secret: bytes, now_ms: int
    ) -> None:
        """A valid v0 signature over the timestamp and body, signed within the replay window."""
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if signature is None or timestamp is None:
            missing = "X-Slack-Signature" if signature is None else "X-Slack-Request-Timestamp"
            raise self.refuse("bad_signature", f"header {missing} is missing")
        if not timestamp.strip().isdigit():
            raise self.refuse(
                "bad_signature", "header X-Slack-Request-Timestamp is not a Unix time"
            )
        if not same(slack_signature(secret, timestamp, raw_body), signature.strip()):
            raise self.refuse("bad_signature", "X-Slack-Signature does not match the body")
        # Checked after the signature, so only a request Slack really signed learns about the
        # window, and a skewed clock is told apart from a forgery.
        skew = now_ms / 1000 - int(timestamp)
        if abs(skew) > REPLAY_WINDOW_SEC:
            raise self.refuse(
                "stale_timestamp",
                f"request timestamp {timestamp} is {abs(skew):.0f}s "
                f"{'old' if skew > 0 else 'in the future'}, outside the "
                f"{REPLAY_WINDOW_SEC // 60}-minute replay window",
                hint="A replayed request is refused on purpose; if Slack itself sent it, check "
                "that this machine's clock is synchronized (NTP).",
            )

    def classify(self, headers: Mapping[str, str], raw_body: bytes) -> Verdict:
        """The handshake, a human message, or something to ignore."""
        return self.classify_body(json_object(raw_body))

    def classify_body(self, body: dict[str, Any]) -> Verdict:
        """An Events API body, posted to the webhook or carried by a Socket Mode envelope."""
        kind = body.get("type")
        if kind == "url_verification":
            return Challenge({"challenge": parse(_Challenge, body).challenge})
        if kind != "event_callback":
            return Ignored(f"callback type {kind}")
        envelope = parse(_EventEnvelope, body)
        raw_event = envelope.event
        # Decided on the raw event: change notices (message_changed, message_deleted, …) have
        # shapes of their own and are never parsed as messages.
        event_type = raw_event.get("type")
        if event_type not in ("message", "app_mention"):
            return Ignored(f"event type {event_type}")
        if raw_event.get("bot_id") is not None:
            return Ignored("bot message")
        if raw_event.get("subtype") not in _HUMAN_SUBTYPES:
            return Ignored(f"message subtype {raw_event.get('subtype')}")
        event = parse(_MessageEvent, raw_event, prefix="body.event")
        text = event.text
        mention = _MENTION.match(text)
        if mention and (event_type == "app_mention" or mention.group(1) in _bot_users(body)):
            text = text[mention.end():]  # "@aman /new" is the command /new
        if not text:
            return Ignored("message without text")
        return InboundMessage(
            text=text,
            chat_id=event.channel,
            message_id=event.ts,
            user=_author(event),
            thread_id=event.thread_ts,
            # The message's own identity (channel and ts), not the delivery's event_id: Slack's
            # retries repeat both, and a mention that also arrives as a ``message`` event (two
            # event_ids) is still one message, answered once.
            dedup_key=f"slack:{self.instance}:{event.channel}:{event.ts}",
        )


def _bot_users(body: dict[str, Any]) -> set[str]:
    """The app's own bot user ids, from the ``authorizations`` Slack adds to each event."""
    found = body.get("authorizations")
    if not isinstance(found, list):
        return set()
    return {str(a["user_id"]) for a in found
            if isinstance(a, dict) and a.get("is_bot") and a.get("user_id")}


def _author(event: _MessageEvent) -> ChatUser:
    # Message events carry the user id; a display name only when Slack adds user_profile.
    profile = event.user_profile
    if profile is None:
        return ChatUser(id=event.user, name=event.user)
    name = profile.display_name or profile.real_name or profile.name or event.user
    return ChatUser(id=event.user, name=name, username=profile.name)
