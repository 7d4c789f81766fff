"""Splitting long replies, conversation keys and reply targets."""

from __future__ import annotations

import pytest

from aman.channels.model import conversation_key, reply_target
from aman.channels.senders import split_text
from aman.config.loader import load_settings
from aman.errors import ConfigError


def test_short_text_is_one_part_and_no_limit_keeps_it_whole() -> None:
    assert split_text("hi", 4096) == ["hi"]
    assert split_text("x" * 10_000, None) == ["x" * 10_000]


def test_long_text_is_cut_at_line_then_word_boundaries() -> None:
    text = ("a" * 3000) + "\n" + ("b" * 3000)
    assert split_text(text, 4096) == ["a" * 3000, "b" * 3000]
    words = " ".join(["word"] * 2000)
    parts = split_text(words, 4096)
    assert all(len(p) <= 4096 for p in parts) and " ".join(parts) == words
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)


def test_text_without_boundaries_is_cut_hard_and_nothing_is_lost() -> None:
    text = "y" * 9000
    parts = split_text(text, 4096)
    assert [len(p) for p in parts] == [4096, 4096, 808] and "".join(parts) == text


PAYLOAD = {"chat_id": "C1", "message_id": "1700.1", "thread_id": None,
           "user": {"id": "U7", "name": "Ann"}}


@pytest.mark.parametrize(("session_per", "payload", "key"), [
    ("chat", PAYLOAD, "slack:ws:chat:C1"),
    ("thread", PAYLOAD, "slack:ws:thread:C1:1700.1"),  # a top-level message starts a thread
    ("thread", {**PAYLOAD, "thread_id": "1600.0"}, "slack:ws:thread:C1:1600.0"),
    ("user", PAYLOAD, "slack:ws:user:U7"),
    ("user", {**PAYLOAD, "user": {"id": None}}, "slack:ws:user:chat-C1"),
])
def test_conversation_keys(session_per: str, payload: dict[str, object], key: str) -> None:
    assert conversation_key("slack", "ws", session_per, payload) == key  # type: ignore[arg-type]


def test_telegram_answers_in_the_topic_and_slack_in_the_thread() -> None:
    assert reply_target("telegram", "bot", {"chat_id": 5, "message_id": "9",
                                            "thread_id": None}).thread_id is None
    assert reply_target("telegram", "bot", {"chat_id": 5, "thread_id": "3"}).thread_id == "3"
    assert reply_target("slack", "ws", PAYLOAD).thread_id == "1700.1"


@pytest.mark.parametrize(("platform", "config", "missing"), [
    ("telegram", {"chat": {}}, "bot_token"),
    ("slack", {"chat": {"session_per": "thread"}}, "bot_token"),
    ("generic", {"chat": {}}, "reply_url"),
])
def test_a_conversation_channel_that_could_not_reply_is_a_config_error(
        platform: str, config: dict[str, object], missing: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={}, overrides={f"channels.{platform}.x": config})
    assert f"channels.{platform}.x.{missing}" in str(info.value)
