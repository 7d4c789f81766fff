"""Slack Socket Mode in a real runtime against the fake Slack over real HTTP and WebSocket: a 429
from apps.connections.open is waited out, a token Slack refuses shows the fix, link_disabled
fails with the fix, pausing closes the socket until resumed, and envelopes the bus refuses for a
while are acknowledged only once committed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.events.sources import SourceState
from tests.channels.fake_platforms import FakePlatforms
from tests.chat.helpers import scripted
from tests.helpers import SettingsFactory, wait_for


@pytest.fixture
def platform() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    yield fake
    fake.close()


@pytest.fixture
def settings(make_settings: SettingsFactory, platform: FakePlatforms) -> Settings:
    platform.fail_polls(1, status=429, retry_after=1)  # the first apps.connections.open
    return scripted(make_settings, "You said: {input}", **{
        # One event a second, so a burst of envelopes meets the bus's rate limit.
        "event_bus.rate_limit_per_sec": 1, "event_bus.rate_limit_burst": 1,
    }, channels={"slack": {"ws": {
        "app_token": "xapp-1-A1-1-abc", "bot_token": "xoxb-1", "api_base": platform.url,
        "chat": {"session_per": "thread"}}}})


async def sockets(platform: FakePlatforms, count: int) -> None:
    await wait_for(lambda: len(platform.sockets) >= count, timeout=15)


async def test_a_429_from_connections_open_is_waited_out_then_connected(
        runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("slack", "ws")
    assert source is not None and source.config["mode"] == "socket"
    started = time.monotonic()
    await wait_for(lambda: source.state is SourceState.BACKING_OFF, timeout=10)
    assert "429" in str(source.last_error)
    await wait_for(lambda: source.state is SourceState.CONNECTED, timeout=15)
    assert time.monotonic() - started >= 1.0 - 0.05 and platform.connections_opened == 2


async def test_a_refused_token_and_link_disabled_show_the_fix(
        runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("slack", "ws")
    assert source is not None
    await wait_for(lambda: source.state is SourceState.CONNECTED, timeout=15)
    platform.slack_open_error = "invalid_auth"
    platform.slack_disconnect("link_disabled")
    await wait_for(lambda: source.state is SourceState.FAILED, timeout=10)
    assert "Socket Mode" in str(source.hint) and "link_disabled" in str(source.last_error)
    await wait_for(lambda: "invalid_auth" in str(source.last_error), timeout=10)
    assert source.state is SourceState.FAILED and "app_token" in str(source.hint)
    capabilities = await runtime.capabilities.current()
    assert capabilities["im:slack:ws"][0]["status"] == "error"
    platform.slack_open_error = None
    await wait_for(lambda: source.state is SourceState.CONNECTED, timeout=20)


async def test_pausing_closes_the_socket_and_resuming_opens_a_new_one(
        runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("slack", "ws")
    assert source is not None
    await wait_for(lambda: source.state is SourceState.CONNECTED, timeout=15)
    opened = platform.connections_opened
    await runtime.sources.pause(source.id)
    assert source.state is SourceState.PAUSED
    assert source.health()["status"] == "degraded"
    await wait_for(lambda: all(c.state.name == "CLOSED" for c in platform.sockets), timeout=10)
    await runtime.sources.resume(source.id)
    await wait_for(lambda: source.state is SourceState.CONNECTED, timeout=15)
    assert platform.connections_opened == opened + 1


async def test_envelopes_the_bus_refuses_for_a_while_are_acked_once_committed(
        runtime: Runtime, platform: FakePlatforms) -> None:
    source = runtime.channel_intake.source("slack", "ws")
    assert source is not None
    await wait_for(lambda: source.state is SourceState.CONNECTED, timeout=15)
    envelopes = [platform.slack_event({"type": "message", "text": f"m{n}", "user": "U1",
                                       "ts": f"170000000{n}.000100", "channel": "C9"},
                                      event_id=f"Ev{n}") for n in range(3)]
    seen: set[SourceState] = set()
    acked_while_refused: list[int] = []

    def all_acked() -> bool:
        seen.add(source.state)
        if source.state is SourceState.BACKING_OFF:
            acked_while_refused.append(sum(e in platform.acks for e in envelopes))
        return all(e in platform.acks for e in envelopes)

    await wait_for(all_acked, timeout=20)
    assert SourceState.BACKING_OFF in seen and source.state is SourceState.CONNECTED
    assert acked_while_refused and max(acked_while_refused) < 3  # the refused one waited
    await wait_for(lambda: len(platform.sent) >= 3, timeout=20)
    assert sorted(platform.texts()) == ["You said: m0", "You said: m1", "You said: m2"]
