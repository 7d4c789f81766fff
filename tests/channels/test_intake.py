"""Pulling intake in a real runtime against the fake platforms over real HTTP: which mode each
instance gets, how a bad mode is refused, a bus refusal retried in place without advancing the
offset, a malformed update skipped, a refused token shown with its fix, network errors backed off
until api_base is fixed, the offset kept per bot, and the sources following the platform being
served."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from aman.channels.base import Dropped, InboundMessage
from aman.channels.generic import GenericAdapter
from aman.channels.polling import TelegramPoller
from aman.channels.slack import SlackAdapter
from aman.channels.telegram import TelegramAdapter
from aman.config.reach import ChannelSettings, channel_problem, intake_mode
from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.errors import ConfigError
from aman.events.sources import SourceState
from aman.store.im_cursors import SqlCursorRepository
from tests.channels import samples as s
from tests.channels.fake_platforms import FakePlatforms
from tests.channels.samples import telegram_message
from tests.chat.helpers import scripted
from tests.helpers import SettingsFactory, wait_for


@pytest.mark.parametrize(("platform", "fields", "mode"), [
    ("telegram", {"bot_token": "1:a"}, "poll"),
    ("telegram", {"bot_token": "1:a", "secret": "s"}, "webhook"),
    ("telegram", {"bot_token": "1:a", "secret": "s", "mode": "poll"}, "poll"),
    ("telegram", {}, "webhook"),
    ("slack", {"app_token": "xapp-1", "bot_token": "xoxb-1"}, "socket"),
    ("slack", {"app_token": "xapp-1", "secret": "s"}, "webhook"),
    ("slack", {"bot_token": "xoxb-1"}, "webhook"),
    ("generic", {"bot_token": "x"}, "webhook"),
])
def test_the_mode_in_force(platform: str, fields: dict[str, Any], mode: str) -> None:
    config = ChannelSettings(**fields)
    assert intake_mode(platform, config) == mode
    assert channel_problem(platform, "x", config) is None


@pytest.mark.parametrize(("platform", "fields", "words"), [
    ("telegram", {"mode": "socket", "bot_token": "1:a"}, "supports webhook or poll"),
    ("generic", {"mode": "poll"}, "supports webhook"),
    ("telegram", {"mode": "poll"}, "bot_token is empty"),
    ("slack", {"mode": "socket"}, "app_token is empty"),
    ("slack", {"mode": "socket", "app_token": "xoxb-1"}, "not an app-level token"),
])
def test_a_mode_that_cannot_work_is_refused_naming_the_key(
        make_settings: SettingsFactory, platform: str, fields: dict[str, Any],
        words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(channels={platform: {"x": fields}})
    assert words in str(caught.value) and f"channels.{platform}.x" in str(caught.value)


def test_a_disabled_instance_is_not_checked_for_tokens() -> None:
    assert channel_problem("slack", "x", ChannelSettings(mode="socket", enabled=False)) is None


def slack(**fields: Any) -> SlackAdapter:
    return SlackAdapter("ws", ChannelSettings(secret=SecretStr("slack-signing"), **fields))


def telegram(**fields: Any) -> TelegramAdapter:
    return TelegramAdapter("bot1", ChannelSettings(secret=SecretStr("s3cret"), **fields))


def generic() -> GenericAdapter:
    return GenericAdapter("bridge", ChannelSettings(secret=SecretStr("g3")))


def test_slack_app_mention_is_a_message_without_the_mention_and_one_with_its_message_event(
) -> None:
    mention = slack().accept(copy.deepcopy(s.SLACK_APP_MENTION))
    assert isinstance(mention, InboundMessage) and mention.text == "is it everything?"
    # The same message as a ``message`` event (another event_id) has the same dedup key.
    as_message = copy.deepcopy(s.SLACK_APP_MENTION)
    as_message["event"]["type"] = "message"
    as_message["event_id"] = "Ev0PV52K99"
    verdict = slack().accept(as_message)
    assert isinstance(verdict, InboundMessage)
    assert verdict.dedup_key == mention.dedup_key == "slack:ws:C024BE91L:1515449522.000016"


def test_a_leading_mention_is_taken_off_only_when_it_names_the_app() -> None:
    body = copy.deepcopy(s.SLACK_CHANNEL_MESSAGE)
    body["event"]["text"] = "<@U0AMAN|aman>: /new"
    body["authorizations"] = [{"user_id": "U0AMAN", "is_bot": True}]
    verdict = slack().accept(body)
    assert isinstance(verdict, InboundMessage) and verdict.text == "/new"
    body["event"]["text"] = "<@U0SOMEONE> can you look"
    verdict = slack().accept(body)
    assert isinstance(verdict, InboundMessage) and verdict.text == "<@U0SOMEONE> can you look"


def test_pulled_updates_are_classified_like_webhook_bodies_with_the_allow_list() -> None:
    update = s.telegram_message(7, 4242, "hi")
    verdict = telegram().accept(update)
    assert isinstance(verdict, InboundMessage) and verdict.dedup_key == "telegram:bot1:7"
    assert isinstance(telegram(allowed_chats=["1"]).accept(update), Dropped)
    with pytest.raises(NotImplementedError):
        generic().accept(s.GENERIC_MESSAGE)


@pytest.fixture
def platform() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    yield fake
    fake.close()


@pytest.fixture
def settings(make_settings: SettingsFactory, platform: FakePlatforms) -> Settings:
    return scripted(
        make_settings, "You said: {input}",
        # One event a second, so a burst of updates meets the bus's rate limit.
        **{"event_bus.rate_limit_per_sec": 1, "event_bus.rate_limit_burst": 1},
        channels={"telegram": {"bot": {"bot_token": "123:abc", "api_base": platform.url,
                                       "poll_timeout_sec": 5, "chat": {}}}})


async def test_a_bus_refusal_is_retried_in_place_and_a_malformed_update_skipped(
        runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("telegram", "bot")
    assert source is not None and runtime.sources.get("im:telegram:bot") is source
    cursors = SqlCursorRepository(runtime.db, runtime.writer)
    platform.queue_update(telegram_message(1, 1111, "one"))
    platform.queue_update({"update_id": 2, "message": {"text": "no chat"}})  # malformed
    platform.queue_update(telegram_message(3, 1111, "three"))
    platform.queue_update(telegram_message(4, 1111, "four"))
    seen: set[SourceState] = set()

    def done() -> bool:
        seen.add(source.state)
        return len(platform.sent) >= 3

    await wait_for(done, timeout=20)
    assert platform.texts() == ["You said: one", "You said: three", "You said: four"]
    assert SourceState.BACKING_OFF in seen  # the rate limit said wait; nothing was lost
    assert source.state is SourceState.POLLING
    health = source.health()
    assert health["received"] == 3 and health["skipped"] == 1
    assert "rate_limited" in health["last_error"]
    assert await cursors.get("telegram:bot:123") == "5"


async def test_the_sources_follow_the_platform_being_served(runtime: Runtime) -> None:
    # What the plugin host does when the plugin registering a platform's adapter goes and comes.
    assert runtime.channel_intake.source("telegram", "bot") is not None
    runtime.channels.remove_platform("telegram")
    await wait_for(lambda: runtime.channel_intake.source("telegram", "bot") is None)
    assert all(s.id != "im:telegram:bot" for s in runtime.sources.list())
    runtime.channels.add_platform(TelegramAdapter)
    await wait_for(lambda: (s := runtime.channel_intake.source("telegram", "bot")) is not None
                     and s.state is SourceState.POLLING, timeout=10)


async def test_the_offset_is_kept_per_bot(runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("telegram", "bot")
    assert source is not None
    other = source.channel_config.model_copy(update={"bot_token": SecretStr("999:zzz")})
    runtime.channels.reload("telegram", "bot", other)
    await wait_for(lambda: (s := runtime.channel_intake.source("telegram", "bot")) is not None
                     and s is not source and s.state is SourceState.POLLING, timeout=10)
    replaced = runtime.channel_intake.source("telegram", "bot")
    assert isinstance(replaced, TelegramPoller) and replaced.cursor_key == "telegram:bot:999"
    assert source.state is SourceState.STOPPED


async def test_the_webhook_of_a_pulling_instance_is_refused_with_the_way_back(
        runtime: Runtime, client: Any) -> None:
    response = await client.post("/im/telegram/bot/webhook", json=telegram_message(9, 1, "x"),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "anything"})
    assert response.status_code == 403
    error = (await response.get_json())["error"]
    assert error["code"] == "webhook_not_in_use" and "mode: webhook" in error["hint"]


async def test_a_token_telegram_does_not_know_fails_with_the_fix_then_recovers(
        runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("telegram", "bot")
    assert source is not None
    platform.fail_polls(2, status=401, description="Unauthorized")
    await wait_for(lambda: source.state is SourceState.FAILED, timeout=15)
    assert "401" in str(source.last_error) and "bot_token" in str(source.hint)
    assert source.health()["status"] == "failed"
    await wait_for(lambda: source.state is SourceState.POLLING, timeout=15)
    assert source.health()["status"] == "ok"


async def test_network_errors_back_off_with_the_state_shown_until_api_base_is_fixed(
        runtime: Runtime, platform: FakePlatforms) -> None:
    first = runtime.channel_intake.source("telegram", "bot")
    assert first is not None
    config = first.channel_config
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    runtime.channels.reload("telegram", "bot", config.model_copy(update={"api_base": nowhere}))
    await wait_for(lambda: (s := runtime.channel_intake.source("telegram", "bot")) is not first
                     and s is not None and s.state is SourceState.BACKING_OFF, timeout=10)
    broken = runtime.channel_intake.source("telegram", "bot")
    assert broken is not None and broken.config["api_base"] == nowhere
    health = broken.health()
    assert "getUpdates failed" in health["last_error"] and health["retry_at_ms"] is not None
    assert health["status"] == "degraded" and "123:abc" not in str(health)
    runtime.channels.reload("telegram", "bot", config)
    await wait_for(lambda: (s := runtime.channel_intake.source("telegram", "bot")) is not None
                     and s.state is SourceState.POLLING, timeout=10)
    platform.queue_update(telegram_message(7, 1111, "reachable"))
    await wait_for(lambda: "You said: reachable" in platform.texts(), timeout=15)
