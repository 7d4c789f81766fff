"""IM channels on two daemons sharing one PostgreSQL store, against the fake Telegram and Slack
over real HTTP: one daemon polls the bot and holds the Socket Mode link, one sends every outbound
text (the others hand theirs to it), so the replies of a chat arrive in order and once, and both
jobs move when that daemon stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from aman.core.app import create_app
from aman.core.phases import RuntimeState
from aman.core.runtime import Runtime
from aman.events.sources import SourceState
from tests.channels.fake_platforms import FakePlatforms
from tests.channels.samples import telegram_headers, telegram_message
from tests.chat.helpers import scripted
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

BOOT_TIMEOUT = 90.0


@pytest.fixture
def platform() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    yield fake
    fake.close()


def pulling(platform: FakePlatforms) -> dict[str, Any]:
    """A Telegram bot in poll mode and a Slack app in Socket Mode, holding conversations."""
    return {"telegram": {"bot": {"bot_token": "123:abc", "api_base": platform.url,
                                 "poll_timeout_sec": 2, "chat": {}}},
            "slack": {"ws": {"app_token": "xapp-1-A1-1-abc", "bot_token": "xoxb-1",
                             "api_base": platform.url, "chat": {}}}}


async def boot(stack: AsyncExitStack, make_settings: SettingsFactory, url: str,
               platform: FakePlatforms, folder: Path, name: str,
               channels: dict[str, Any] | None = None) -> tuple[Runtime, Any]:
    """A daemon named ``name`` on ``url`` with the pulling channels (or ``channels``), and its
    client."""
    app = create_app(scripted(
        make_settings, "You said: {input}", store__url=url, cluster__node_name=name,
        cluster__heartbeat_sec=0.2, cluster__dead_after_sec=2, runtime__dir=str(folder / name),
        channels=channels or pulling(platform)))
    served = await stack.enter_async_context(app.test_app())
    rt = runtime_of(app)
    await wait_for(lambda: rt.ready or rt.state is RuntimeState.FAILED, BOOT_TIMEOUT)
    assert rt.ready, rt.phases.failure
    return rt, served.test_client()


def connected(rt: Runtime) -> bool:
    """Whether ``rt`` holds the Slack Socket Mode link."""
    source = rt.channel_intake.source("slack", "ws")
    return source is not None and source.state is SourceState.CONNECTED


def texts(platform: FakePlatforms) -> list[str]:
    return platform.texts("/sendMessage")


async def test_one_daemon_polls_and_sends_so_a_chats_replies_arrive_in_order_and_once(
        make_settings: SettingsFactory, pg_server: PgServer, platform: FakePlatforms,
        tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as outer:
        async with AsyncExitStack() as inner:
            first, first_client = await boot(inner, make_settings, url, platform, tmp_path,
                                             "first")
            second, second_client = await boot(outer, make_settings, url, platform, tmp_path,
                                               "second")
            # The first daemon booted first: it polls the bot and sends; the second does neither.
            assert {"channel_intake", "channel_outbox"} <= set(first.cluster.led)
            assert second.cluster.led == []
            assert first.channel_outbox.leading and not second.channel_outbox.leading
            assert first.channel_intake.source("telegram", "bot") is not None
            assert second.channel_intake.source("telegram", "bot") is None
            assert second.channel_intake.source("slack", "ws") is None
            await wait_for(lambda: connected(first), 15)
            platform.queue_update(telegram_message(1, 4242, "one"))
            await wait_for(lambda: texts(platform) == ["You said: one"], 30)
            sessions = (await (await second_client.get("/chat/sessions")).get_json())["items"]
            [session_id] = [s["id"] for s in sessions]
            # Messages of the chat's session sent to both daemons in turn: each reply is made
            # where its message was taken, and every one is sent by the first daemon.
            for number, client in enumerate([second_client, first_client, second_client,
                                             second_client, first_client], start=2):
                sent = await client.post(f"/chat/session/{session_id}/send",
                                         json={"text": f"m{number}"})
                assert sent.status_code == 202, await sent.get_json()
            expected = ["You said: one", *(f"You said: m{n}" for n in range(2, 7))]
            await wait_for(lambda: len(texts(platform)) >= len(expected), 60)
            await first.bus.wait_idle()
            await second.bus.wait_idle()
            assert texts(platform) == expected
            assert second.channel_outbox.last_ok == {}  # the second daemon sent nothing itself
            database = url.rsplit("/", 1)[1]
            claims = pg_server.psql("SELECT claimed_by, count(*) FROM events WHERE"
                                    " event_type = 'im:outbound' GROUP BY 1", database)
            assert claims.split() == ["first|6"]
            assert second.channel_intake.source("slack", "ws") is None  # one Socket Mode link
        # The first daemon stopped: the second takes both roles and answers the chat.
        await wait_for(lambda: {"channel_intake", "channel_outbox"} <= set(second.cluster.led),
                       30)
        await wait_for(lambda: second.channel_intake.source("telegram", "bot") is not None, 10)
        await wait_for(lambda: connected(second), 15)  # the second holds the link now
        platform.queue_update(telegram_message(2, 4242, "after"))
        await wait_for(lambda: texts(platform)[len(expected):] == ["You said: after"], 30)
        assert len(texts(platform)) == len(set(texts(platform)))


async def test_first_messages_of_one_chat_on_two_daemons_open_one_session(
        make_settings: SettingsFactory, pg_server: PgServer, platform: FakePlatforms,
        tmp_path: Path) -> None:
    url = pg_server.new_database()
    webhook = {"telegram": {"bot": {"secret": "tg-secret", "bot_token": "123:abc",
                                    "api_base": platform.url, "chat": {}}}}
    async with AsyncExitStack() as stack:
        clients = [(await boot(stack, make_settings, url, platform, tmp_path, name,
                               channels=webhook))[1] for name in ("first", "second")]

        async def deliver(client: Any, update_id: int, text: str) -> None:
            response = await client.post(
                "/im/telegram/bot/webhook", data=json.dumps(telegram_message(
                    update_id, 777, text)), headers=telegram_headers("tg-secret"))
            assert response.status_code == 200, await response.get_data(as_text=True)

        # The chat's first two messages reach the two daemons at once.
        await asyncio.gather(deliver(clients[0], 1, "hello"), deliver(clients[1], 2, "again"))
        await wait_for(lambda: len(texts(platform)) >= 2, 30)
        assert sorted(texts(platform)) == ["You said: again", "You said: hello"]
        sessions = (await (await clients[1].get("/chat/sessions")).get_json())["items"]
        assert len(sessions) == 1
