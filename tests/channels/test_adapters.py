"""Inbound IM adapters: verification tables, the Slack replay window, normalization, strangers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import SecretStr

from aman.channels.base import Challenge, ChannelAdapter, Dropped, Ignored, InboundMessage
from aman.channels.generic import GenericAdapter
from aman.channels.registry import ADAPTERS, ChannelRegistry
from aman.channels.slack import SlackAdapter, slack_signature
from aman.channels.telegram import TelegramAdapter
from aman.config.settings import CHANNEL_PLATFORMS, ChannelSettings
from aman.errors import (
    ForbiddenError,
    InvalidJsonError,
    NotFoundError,
    UnauthorizedError,
    ValidationFailedError,
)
from tests.channels import samples as s

NOW_MS = 1_718_000_000_000
NOW_S = NOW_MS // 1000


def config(secret: str = "s3cret", **fields: Any) -> ChannelSettings:
    return ChannelSettings(secret=SecretStr(secret), **fields)


def telegram(secret: str = "s3cret", **fields: Any) -> TelegramAdapter:
    return TelegramAdapter("bot1", config(secret, **fields))


def slack(secret: str = "slack-signing", **fields: Any) -> SlackAdapter:
    return SlackAdapter("ws", config(secret, **fields))


def generic(secret: str = "g3", **fields: Any) -> GenericAdapter:
    return GenericAdapter("bridge", config(secret, **fields))


def refusal(
    adapter: ChannelAdapter, headers: dict[str, str], body: bytes, now_ms: int = NOW_MS
) -> str:
    with pytest.raises(UnauthorizedError) as caught:
        adapter.receive(headers, body, now_ms)
    assert (
        "nothing was enqueued" in caught.value.message
        or caught.value.code == "secret_not_configured"
    )
    return caught.value.code


def test_every_configurable_platform_has_an_adapter() -> None:
    assert set(ADAPTERS) == CHANNEL_PLATFORMS


# --- refusals every adapter shares ------------------------------------------------------------


@pytest.mark.parametrize("adapter_type", [TelegramAdapter, SlackAdapter, GenericAdapter])
def test_an_empty_secret_refuses_even_a_request_that_would_verify(
    adapter_type: type[ChannelAdapter],
) -> None:
    adapter = adapter_type("inst", config(""))
    body = s.encode(s.GENERIC_MESSAGE)
    # Headers signed with the empty key: an unset secret must not mean "everything verifies".
    headers = {
        **s.telegram_headers(""),
        **s.slack_headers("", NOW_S, body),
        **s.generic_headers("", body),
    }
    with pytest.raises(UnauthorizedError) as caught:
        adapter.receive(headers, body, NOW_MS)
    assert caught.value.code == "secret_not_configured"
    assert f"channels.{adapter.platform}.inst.secret" in caught.value.hint


@pytest.mark.parametrize("adapter_type", [TelegramAdapter, SlackAdapter, GenericAdapter])
def test_a_disabled_channel_is_forbidden_before_anything_is_read(
    adapter_type: type[ChannelAdapter],
) -> None:
    adapter = adapter_type("inst", config("x", enabled=False))
    with pytest.raises(ForbiddenError) as caught:
        adapter.receive({}, b"not even json", NOW_MS)
    assert caught.value.code == "channel_disabled"
    assert f"channels.{adapter.platform}.inst.enabled" in caught.value.hint


# --- Telegram ---------------------------------------------------------------------------------


def test_telegram_accepts_the_configured_secret_token_in_any_header_case() -> None:
    body = s.encode(s.TELEGRAM_PRIVATE_TEXT)
    for name in ("X-Telegram-Bot-Api-Secret-Token", "x-telegram-bot-api-secret-token"):
        verdict = telegram().receive({name: "s3cret"}, body, NOW_MS)
        assert isinstance(verdict, InboundMessage)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Telegram-Bot-Api-Secret-Token": ""},
        {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        {"X-Telegram-Bot-Api-Secret-Token": "S3CRET"},
        {"X-Telegram-Bot-Api-Secret-Token": "s3cret "},
        {"X-Telegram-Bot-Api-Secret-Token": "s3cre"},
        {"Authorization": "Bearer s3cret"},
    ],
)
def test_telegram_refuses_a_missing_or_different_secret_token(headers: dict[str, str]) -> None:
    assert refusal(telegram(), headers, s.encode(s.TELEGRAM_PRIVATE_TEXT)) == "bad_secret_token"


def test_telegram_refuses_before_parsing_the_body() -> None:
    assert refusal(telegram(), s.telegram_headers("wrong"), b"{not json") == "bad_secret_token"


def test_telegram_private_message_is_normalized() -> None:
    verdict = telegram().receive(
        s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_PRIVATE_TEXT), NOW_MS
    )
    assert isinstance(verdict, InboundMessage)
    assert verdict.payload("telegram", "bot1") == {
        "text": "/start",
        "platform": "telegram",
        "instance": "bot1",
        "chat_id": "1111111",
        "message_id": "1365",
        "user": {
            "id": "1111111",
            "name": "Test Firstname Test Lastname",
            "username": "Testusername",
        },
        "thread_id": None,
        "edited": False,
        "reply_target": {
            "platform": "telegram",
            "instance": "bot1",
            "chat_id": "1111111",
            "thread_id": None,
        },
    }
    assert verdict.dedup_key == "telegram:bot1:10000"


def test_telegram_forum_topic_keeps_its_thread() -> None:
    verdict = telegram().receive(
        s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_FORUM_TOPIC), NOW_MS
    )
    assert isinstance(verdict, InboundMessage)
    assert (verdict.chat_id, verdict.thread_id, verdict.text) == (
        "-1001987654321",
        "2040",
        "deploy status?",
    )
    assert verdict.user.username == "ada_l" and verdict.user.name == "Ada Lovelace"


def test_telegram_edits_channel_posts_and_captions_are_messages() -> None:
    edited = telegram().receive(s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_EDITED), NOW_MS)
    assert (
        isinstance(edited, InboundMessage)
        and edited.edited
        and edited.text == "hello again (edited)"
    )
    post = telegram().receive(
        s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_CHANNEL_POST), NOW_MS
    )
    assert isinstance(post, InboundMessage)
    assert post.user.to_json() == {
        "id": "-1001122334455",
        "name": "aman news",
        "username": "aman_news",
    }
    photo = telegram().receive(
        s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_PHOTO_WITH_CAPTION), NOW_MS
    )
    assert isinstance(photo, InboundMessage) and photo.text == "the whiteboard from today"


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (s.TELEGRAM_STICKER, "message without text"),
        (s.TELEGRAM_CALLBACK_QUERY, "update without a message"),
        (s.TELEGRAM_MY_CHAT_MEMBER, "update without a message"),
    ],
)
def test_telegram_updates_without_text_are_ignored(update: dict[str, Any], reason: str) -> None:
    assert telegram().receive(s.telegram_headers("s3cret"), s.encode(update), NOW_MS) == Ignored(
        reason
    )


def test_telegram_stranger_is_dropped_and_listed_chat_passes() -> None:
    adapter = telegram(allowed_chats=["-1001987654321"])
    stranger = adapter.receive(
        s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_PRIVATE_TEXT), NOW_MS
    )
    assert isinstance(stranger, Dropped) and stranger.reason == "stranger"
    assert stranger.message.chat_id == "1111111"
    listed = adapter.receive(s.telegram_headers("s3cret"), s.encode(s.TELEGRAM_FORUM_TOPIC), NOW_MS)
    assert isinstance(listed, InboundMessage)


def test_telegram_verified_but_malformed_body_names_the_problem() -> None:
    with pytest.raises(InvalidJsonError):
        telegram().receive(s.telegram_headers("s3cret"), b"{nope", NOW_MS)
    with pytest.raises(ValidationFailedError) as caught:
        telegram().receive(s.telegram_headers("s3cret"), b'{"message": {}}', NOW_MS)
    assert "body.update_id" in caught.value.message


# --- Slack ------------------------------------------------------------------------------------


def test_slack_signature_matches_slacks_worked_example() -> None:
    expected = slack_signature(
        s.SLACK_DOC_SECRET.encode(), s.SLACK_DOC_TIMESTAMP, s.SLACK_DOC_BODY.encode()
    )
    assert expected == s.SLACK_DOC_SIGNATURE
    adapter = SlackAdapter("doc", config(s.SLACK_DOC_SECRET))
    headers = {
        "X-Slack-Request-Timestamp": s.SLACK_DOC_TIMESTAMP,
        "X-Slack-Signature": s.SLACK_DOC_SIGNATURE,
    }
    # Verification passes; the form-encoded slash-command body is then not an Events API body.
    with pytest.raises(InvalidJsonError):
        adapter.receive(headers, s.SLACK_DOC_BODY.encode(), int(s.SLACK_DOC_TIMESTAMP) * 1000)


def _slack_cases() -> list[tuple[str, dict[str, str], str]]:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    good = s.slack_headers("slack-signing", NOW_S, body)
    other_ts = s.slack_headers("slack-signing", NOW_S + 1, body)
    return [
        ("no signature", {"X-Slack-Request-Timestamp": str(NOW_S)}, "bad_signature"),
        ("no timestamp", {"X-Slack-Signature": good["X-Slack-Signature"]}, "bad_signature"),
        ("other secret", s.slack_headers("another-secret", NOW_S, body), "bad_signature"),
        (
            "signature of another timestamp",
            {
                **good,
                "X-Slack-Request-Timestamp": str(NOW_S + 1),
                "X-Slack-Signature": good["X-Slack-Signature"],
            },
            "bad_signature",
        ),
        (
            "timestamp header swapped",
            {**good, "X-Slack-Signature": other_ts["X-Slack-Signature"]},
            "bad_signature",
        ),
        (
            "v1 prefix",
            {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]},
            "bad_signature",
        ),
        ("bare hex", {**good, "X-Slack-Signature": good["X-Slack-Signature"][3:]}, "bad_signature"),
        ("not a unix time", {**good, "X-Slack-Request-Timestamp": "yesterday"}, "bad_signature"),
        (
            "truncated",
            {**good, "X-Slack-Signature": good["X-Slack-Signature"][:-2]},
            "bad_signature",
        ),
    ]


@pytest.mark.parametrize(
    ("case", "headers", "code"), _slack_cases(), ids=[c[0] for c in _slack_cases()]
)
def test_slack_refusals(case: str, headers: dict[str, str], code: str) -> None:
    assert refusal(slack(), headers, s.encode(s.SLACK_CHANNEL_MESSAGE)) == code


def test_slack_refuses_a_tampered_body() -> None:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    headers = s.slack_headers("slack-signing", NOW_S, body)
    tampered = body.replace(b"Live long", b"Die young")
    assert refusal(slack(), headers, tampered) == "bad_signature"


@pytest.mark.parametrize(
    ("offset_sec", "accepted"),
    [(0, True), (299, True), (300, True), (-300, True), (301, False), (-301, False), (3600, False)],
)
def test_slack_replay_window_with_an_injected_clock(offset_sec: int, accepted: bool) -> None:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    headers = s.slack_headers("slack-signing", NOW_S, body)
    now_ms = NOW_MS + offset_sec * 1000
    if accepted:
        assert isinstance(slack().receive(headers, body, now_ms), InboundMessage)
    else:
        with pytest.raises(UnauthorizedError) as caught:
            slack().receive(headers, body, now_ms)
        assert caught.value.code == "stale_timestamp"
        assert "replay window" in caught.value.message and "NTP" in caught.value.hint


def test_slack_stale_forgery_is_a_bad_signature_not_a_clock_hint() -> None:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    headers = s.slack_headers("wrong", NOW_S - 3600, body)
    assert refusal(slack(), headers, body) == "bad_signature"


def test_slack_url_verification_answers_the_challenge_only_when_signed() -> None:
    body = s.encode(s.SLACK_URL_VERIFICATION)
    verdict = slack().receive(s.slack_headers("slack-signing", NOW_S, body), body, NOW_MS)
    assert verdict == Challenge({"challenge": s.SLACK_URL_VERIFICATION["challenge"]})
    assert refusal(slack(), s.slack_headers("wrong", NOW_S, body), body) == "bad_signature"


def test_slack_channel_message_is_normalized() -> None:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    verdict = slack(agent_id="cortana").receive(
        s.slack_headers("slack-signing", NOW_S, body), body, NOW_MS
    )
    assert isinstance(verdict, InboundMessage)
    assert verdict.payload("slack", "ws") == {
        "text": "Live long and prospect.",
        "platform": "slack",
        "instance": "ws",
        "chat_id": "C024BE91L",
        "message_id": "1355517523.000005",
        "user": {"id": "U2147483697", "name": "U2147483697", "username": None},
        "thread_id": None,
        "edited": False,
        "reply_target": {
            "platform": "slack",
            "instance": "ws",
            "chat_id": "C024BE91L",
            "thread_id": None,
        },
    }
    assert verdict.dedup_key == "slack:ws:C024BE91L:1355517523.000005"


def test_slack_retries_carry_the_same_dedup_key() -> None:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    first = slack().receive(s.slack_headers("slack-signing", NOW_S, body), body, NOW_MS)
    retry = slack().receive(
        s.slack_headers("slack-signing", NOW_S + 60, body, retry=1), body, NOW_MS + 60_000
    )
    assert isinstance(first, InboundMessage) and isinstance(retry, InboundMessage)
    assert first.dedup_key == retry.dedup_key


def test_slack_thread_reply_and_user_profile() -> None:
    event = copy.deepcopy(s.SLACK_THREAD_REPLY)
    event["event"]["user_profile"] = {
        "name": "spock",
        "real_name": "S'chn T'gai Spock",
        "display_name": "Spock",
        "team": "T061EG9R6",
    }
    body = s.encode(event)
    verdict = slack().receive(s.slack_headers("slack-signing", NOW_S, body), body, NOW_MS)
    assert isinstance(verdict, InboundMessage)
    assert verdict.thread_id == "1355517523.000005" and verdict.message_id == "1355517600.000100"
    assert verdict.user.to_json() == {"id": "U2147483697", "name": "Spock", "username": "spock"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (s.SLACK_BOT_MESSAGE, "bot message"),
        (s.SLACK_APP_MESSAGE, "bot message"),
        (s.SLACK_MESSAGE_CHANGED, "message subtype message_changed"),
        (s.SLACK_APP_RATE_LIMITED, "callback type app_rate_limited"),
    ],
)
def test_slack_non_messages_are_ignored(body: dict[str, Any], reason: str) -> None:
    raw = s.encode(body)
    assert slack().receive(s.slack_headers("slack-signing", NOW_S, raw), raw, NOW_MS) == Ignored(
        reason
    )


def test_slack_stranger_channel_is_dropped() -> None:
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    verdict = slack(allowed_chats=["C0OTHER"]).receive(
        s.slack_headers("slack-signing", NOW_S, body), body, NOW_MS
    )
    assert isinstance(verdict, Dropped) and verdict.message.chat_id == "C024BE91L"


# --- generic ----------------------------------------------------------------------------------


def test_generic_message_is_normalized_with_either_dedup_source() -> None:
    body = s.encode(s.GENERIC_MESSAGE)
    verdict = generic().receive(s.generic_headers("g3", body), body, NOW_MS)
    assert isinstance(verdict, InboundMessage)
    assert verdict.payload("generic", "bridge") == {
        "text": "the backup finished",
        "platform": "generic",
        "instance": "bridge",
        "chat_id": "ops-room",
        "message_id": "m-1001",
        "user": {"id": "u-42", "name": "Backup Bot Owner", "username": "owner"},
        "thread_id": "t-7",
        "edited": False,
        "reply_target": {
            "platform": "generic",
            "instance": "bridge",
            "chat_id": "ops-room",
            "thread_id": "t-7",
        },
    }
    assert verdict.dedup_key == "generic:bridge:m-1001"
    delivered = generic().receive(s.generic_headers("g3", body, delivery="dlv-9"), body, NOW_MS)
    assert (
        isinstance(delivered, InboundMessage)
        and delivered.dedup_key == "generic:bridge:delivery:dlv-9"
    )


def test_generic_accepts_numeric_ids_and_a_plain_user() -> None:
    body = s.encode({"text": "hi", "chat_id": 42, "message_id": 7, "user": "alice", "thread_id": 3})
    verdict = generic().receive(s.generic_headers("g3", body), body, NOW_MS)
    assert isinstance(verdict, InboundMessage)
    assert (verdict.chat_id, verdict.message_id, verdict.thread_id) == ("42", "7", "3")
    assert verdict.user.to_json() == {"id": "alice", "name": "alice", "username": None}


def test_generic_signature_hex_is_case_insensitive() -> None:
    body = s.encode(s.GENERIC_MESSAGE)
    headers = s.generic_headers("g3", body)
    headers["X-Aman-Signature"] = "SHA256=" + headers["X-Aman-Signature"][7:].upper()
    assert isinstance(generic().receive(headers, body, NOW_MS), InboundMessage)


def _generic_cases() -> list[tuple[str, dict[str, str]]]:
    body = s.encode(s.GENERIC_MESSAGE)
    good = s.generic_headers("g3", body)
    digest = good["X-Aman-Signature"][7:]
    return [
        ("missing", {}),
        ("empty", {"X-Aman-Signature": ""}),
        ("bare hex", {"X-Aman-Signature": digest}),
        ("sha1 prefix", {"X-Aman-Signature": "sha1=" + digest}),
        ("other secret", s.generic_headers("other", body)),
        ("truncated", {"X-Aman-Signature": "sha256=" + digest[:-1]}),
        ("signature of another body", s.generic_headers("g3", body + b" ")),
    ]


@pytest.mark.parametrize(
    ("case", "headers"), _generic_cases(), ids=[c[0] for c in _generic_cases()]
)
def test_generic_refusals(case: str, headers: dict[str, str]) -> None:
    assert refusal(generic(), headers, s.encode(s.GENERIC_MESSAGE)) == "bad_signature"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chat_id": "c", "message_id": "m"}, "body.text"),
        ({"text": "", "chat_id": "c", "message_id": "m"}, "body.text"),
        ({"text": "t", "message_id": "m"}, "body.chat_id"),
        ({"text": "t", "chat_id": " ", "message_id": "m"}, "body.chat_id"),
        ({"text": "t", "chat_id": "c", "message_id": True}, "body.message_id"),
        ({"text": "t", "chat_id": "c", "message_id": "m", "channel": "x"}, "body.channel"),
    ],
)
def test_generic_invalid_body_names_the_field(body: dict[str, Any], field: str) -> None:
    raw = s.encode(body)
    with pytest.raises(ValidationFailedError) as caught:
        generic().receive(s.generic_headers("g3", raw), raw, NOW_MS)
    assert field in caught.value.message


# --- registry ---------------------------------------------------------------------------------


def test_registry_names_what_is_missing_and_swaps_on_reload() -> None:
    registry = ChannelRegistry({"telegram": {"bot1": config("a", allowed_chats=["1"])}})
    with pytest.raises(NotFoundError, match="plugin providing it is disabled"):
        registry.get("telegram", "bot1")  # no adapter class registered yet
    for adapter in ADAPTERS.values():
        registry.add_platform(adapter)
    assert registry.platforms == ["generic", "slack", "telegram"]
    assert isinstance(registry.get("telegram", "bot1"), TelegramAdapter)
    with pytest.raises(NotFoundError) as unknown:
        registry.get("telegram", "bot2")
    assert "telegram/bot2" in unknown.value.message and "bot1" in unknown.value.message
    assert unknown.value.code == "channel_not_found"
    with pytest.raises(NotFoundError) as platform:
        registry.get("discord", "bot1")
    assert "discord" in platform.value.message and "slack" in platform.value.message

    before = registry.get("telegram", "bot1")
    change = registry.reload("telegram", "bot1", config("new-secret-xyz", allowed_chats=["1", "2"]))
    assert change.changed == ("secret", "allowed_chats") and not change.added
    after = registry.get("telegram", "bot1")
    assert after is not before and after.config.allowed_chats == ["1", "2"]
    assert before.config.allowed_chats == ["1"]  # a request in flight keeps its config
    assert registry.describe("telegram", "bot1")["secret_configured"] is True
    assert "new-secret-xyz" not in str(registry.describe("telegram", "bot1"))
    added = registry.reload("slack", "ws", config("c"))
    assert added.added and registry.instances("slack") == ["ws"]


def test_removing_a_platform_stops_serving_it() -> None:
    registry = ChannelRegistry({"telegram": {"bot1": config("a")}})
    registry.add_platform(TelegramAdapter)
    registry.remove_platform("telegram")
    with pytest.raises(NotFoundError, match="disabled"):
        registry.get("telegram", "bot1")
