"""IM conversations through a real runtime, real webhooks and a fake platform over real HTTP:
sessions per conversation, replies sent once, splitting, retries, the DLQ, commands and
approvals."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.events.model import DlqQuery
from tests.channels.fake_platforms import FakePlatforms
from tests.channels.samples import (
    encode,
    generic_headers,
    slack_event,
    slack_headers,
    telegram_headers,
    telegram_message,
)
from tests.chat.helpers import scripted
from tests.helpers import SettingsFactory, runtime_of, wait_for

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

SECRET = "tg-secret"
FAST = {"event_bus.retry_backoff_ms": [10, 20], "event_bus.max_retries": 2}


@pytest.fixture
def platform() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    yield fake
    fake.close()


def channels(fake: FakePlatforms, **telegram: Any) -> dict[str, Any]:
    """A Telegram, a Slack and a generic channel holding conversations, all on the fake."""
    return {
        "telegram": {"bot": {"secret": SECRET, "bot_token": "123:abc", "api_base": fake.url,
                             "chat": {"session_per": "chat"}, **telegram}},
        "slack": {"ws": {"secret": "slack-secret", "bot_token": "xoxb-1", "api_base": fake.url,
                         "chat": {"session_per": "thread"}}},
        "generic": {"bridge": {"secret": "gen-secret", "reply_url": f"{fake.url}/reply",
                               "chat": {"session_per": "user"}}},
    }


@pytest.fixture
def settings(make_settings: SettingsFactory, platform: FakePlatforms) -> Settings:
    return scripted(make_settings, "You said: {input}", channels=channels(platform), **FAST)


async def telegram(client: TestClientProtocol, update_id: int, text: str,
                   chat_id: int = 1111) -> Any:
    response = await client.post("/im/telegram/bot/webhook", data=encode(
        telegram_message(update_id, chat_id, text)), headers=telegram_headers(SECRET))
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def sent(fake: FakePlatforms, count: int) -> list[str]:
    await wait_for(lambda: len(fake.sent) >= count, what=f"{count} message(s) sent")
    return [s.text for s in fake.sent]


async def settled(runtime: Runtime) -> None:
    """Wait until nothing could still send: no reply generating or waiting, the bus idle (its
    outbound deliveries and their retries included)."""
    async def quiet() -> bool:
        if runtime.chat._workers.active:
            return False
        await runtime.bus.wait_idle()
        return not runtime.chat._workers.active

    await wait_for(quiet, what="the runtime to settle")


async def test_a_telegram_message_is_answered_once_even_when_delivered_twice(
        client: TestClientProtocol, runtime: Runtime, platform: FakePlatforms) -> None:
    first = await telegram(client, 500, "hello there")
    again = await telegram(client, 500, "hello there")
    assert again["duplicate"] is True and again["event_id"] == first["event_id"]
    assert await sent(platform, 1) == ["You said: hello there"]
    request = platform.sent[0]
    assert request.path == "/bot123:abc/sendMessage" and request.body["chat_id"] == "1111"
    await telegram(client, 501, "second")
    assert await sent(platform, 2) == ["You said: hello there", "You said: second"]
    sessions = (await (await client.get("/chat/sessions")).get_json())["items"]
    assert len(sessions) == 1  # one session per chat, remembered
    state = await (await client.get(f"/chat/session/{sessions[0]['id']}/state")).get_json()
    assert [m["content"] for m in state["messages"]] == [
        "hello there", "You said: hello there", "second", "You said: second"]
    await settled(runtime)
    assert len(platform.sent) == 2


async def test_each_chat_gets_its_own_session(client: TestClientProtocol,
                                              platform: FakePlatforms) -> None:
    await telegram(client, 600, "from A", chat_id=1)
    await telegram(client, 601, "from B", chat_id=2)
    await sent(platform, 2)
    assert sorted((s.body["chat_id"], s.text) for s in platform.sent) == [
        ("1", "You said: from A"), ("2", "You said: from B")]
    sessions = (await (await client.get("/chat/sessions")).get_json())["items"]
    assert len(sessions) == 2


async def test_a_long_reply_is_split_at_the_telegram_limit(
        make_settings: SettingsFactory, platform: FakePlatforms, tmp_path: Path) -> None:
    long_reply = " ".join(["longwords"] * 500)  # 4 999 characters, 500 words
    settings = scripted(make_settings, long_reply, channels=channels(platform))
    async with serve(settings) as client:
        await telegram(client, 700, "talk a lot")
        texts = await sent(platform, 2)
        await settled(runtime_of(client.app))
    assert len(platform.sent) == 2
    assert len(texts[0]) <= 4096 and " ".join(texts) == long_reply


async def test_a_failing_platform_parks_the_reply_and_a_dlq_retry_sends_it(
        client: TestClientProtocol, runtime: Runtime, platform: FakePlatforms) -> None:
    platform.fail_next(3, status=502)  # the first attempt and both retries
    await telegram(client, 800, "are you there")
    await wait_for(lambda: platform.attempts >= 3)

    async def parked() -> list[Any]:
        page, _ = await runtime.dlq.page(DlqQuery(), None, 10)
        return page

    (entry,) = await wait_for(parked, what="the reply parked in the DLQ")
    assert entry.handler == "im-outbound" and "502" in entry.reason
    assert runtime.channel_outbox.last_ok[("telegram", "bot")] is False
    assert platform.sent == []
    assert await channel_status(client) == "degraded"
    retried = await client.post(f"/dlq/{entry.id}/retry", headers={"x-aman-confirm": "yes"})
    assert retried.status_code == 202, await retried.get_data(as_text=True)
    assert await sent(platform, 1) == ["You said: are you there"]
    await wait_for(lambda: runtime.channel_outbox.last_ok[("telegram", "bot")] is True)

    async def healthy() -> bool:  # capabilities follow the im:delivered fact
        return await channel_status(client) == "healthy"

    async def resolved() -> bool:
        return (await runtime.dlq.get(entry.id)).status == "resolved"

    await wait_for(healthy, what="the channel to be healthy again")
    await wait_for(resolved, what="the DLQ entry to be resolved")


async def channel_status(client: TestClientProtocol) -> str:
    capabilities = await (await client.get("/capabilities")).get_json()
    (entry,) = capabilities["im:telegram:bot"]
    return str(entry["status"])


async def test_a_rate_limited_send_waits_as_long_as_the_platform_asks(
        client: TestClientProtocol, platform: FakePlatforms) -> None:
    platform.fail_next(1, status=429, retry_after=0.4)
    started = asyncio.get_running_loop().time()
    await telegram(client, 900, "slow down")
    await sent(platform, 1)
    assert asyncio.get_running_loop().time() - started >= 0.4  # the bus's own backoff is 10 ms


async def test_new_starts_a_fresh_session_and_help_answers(
        client: TestClientProtocol, platform: FakePlatforms) -> None:
    await telegram(client, 1000, "first topic")
    await sent(platform, 1)
    await telegram(client, 1001, "/new")
    texts = await sent(platform, 2)
    assert texts[1] == "Started a fresh conversation."
    await telegram(client, 1002, "second topic")
    await sent(platform, 3)
    sessions = (await (await client.get("/chat/sessions")).get_json())["items"]
    assert len(sessions) == 2
    newest = await (await client.get(f"/chat/session/{sessions[0]['id']}/state")).get_json()
    assert [m["content"] for m in newest["messages"]] == ["second topic", "You said: second topic"]
    await telegram(client, 1003, "/help@aman_bot")
    assert (await sent(platform, 4))[3].startswith("Commands: /new")


async def test_strangers_get_nothing(make_settings: SettingsFactory,
                                     platform: FakePlatforms) -> None:
    settings = scripted(make_settings, "hi",
                        channels=channels(platform, allowed_chats=["42"]))
    async with serve(settings) as client:
        dropped = await telegram(client, 1100, "let me in", chat_id=13)
        assert dropped["dropped"] == "stranger"
        await telegram(client, 1101, "hello", chat_id=42)
        await sent(platform, 1)
        await settled(runtime_of(client.app))
    assert [(s.body["chat_id"], s.text) for s in platform.sent] == [("42", "hi")]


async def test_an_approval_is_asked_in_the_chat_and_answered_with_approve(
        make_settings: SettingsFactory, platform: FakePlatforms, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write = json.dumps({"tool_calls": [{"name": "write",
                                        "arguments": {"path": "notes.md", "content": "hello"}}]})
    settings = scripted(make_settings, write, "Saved: {tool_result}",
                        channels=channels(platform), **{"tools.workspace_dir": str(workspace)})
    async with serve(settings) as client:
        await telegram(client, 1200, "save a note")
        (prompt,) = await sent(platform, 1)
        assert "write" in prompt and "notes.md" in prompt
        code = prompt.rsplit("/deny ", 1)[1].rstrip(".")
        await telegram(client, 1201, "/approve WRONG1")
        assert (await sent(platform, 2))[1] == "No pending request with code WRONG1 in this chat."
        await telegram(client, 1202, "/approve WRONG1", chat_id=2222)  # another chat
        await telegram(client, 1203, f"/approve {code}", chat_id=2222)  # not its request
        texts = await sent(platform, 4)
        assert texts[3] == f"No pending request with code {code} in this chat."
        assert not (workspace / "notes.md").exists()
        await telegram(client, 1204, f"/approve {code.lower()}")
        texts = await sent(platform, 6)
    assert "Approved: write." in texts[4:]
    assert any(t.startswith("Saved:") for t in texts[4:])
    assert (workspace / "notes.md").read_text() == "hello"


async def test_slack_replies_in_the_thread_with_the_bot_token(
        client: TestClientProtocol, platform: FakePlatforms) -> None:
    now = int(time.time())
    message = {"type": "message", "text": "hi slack", "user": "U1", "ts": "1700000000.000100",
               "channel": "C9"}
    body = encode(slack_event(message, event_id="Ev1"))
    response = await client.post("/im/slack/ws/webhook", data=body,
                                 headers=slack_headers("slack-secret", now, body))
    assert response.status_code == 200, await response.get_data(as_text=True)
    await sent(platform, 1)
    request = platform.sent[0]
    assert request.path == "/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-1"
    assert request.body == {"channel": "C9", "text": "You said: hi slack",
                            "thread_ts": "1700000000.000100"}


async def test_the_generic_bridge_gets_a_signed_reply(client: TestClientProtocol,
                                                      platform: FakePlatforms) -> None:
    body = encode({"text": "ping", "chat_id": "room", "message_id": "m1", "user": "u1"})
    response = await client.post("/im/generic/bridge/webhook", data=body,
                                 headers=generic_headers("gen-secret", body))
    assert response.status_code == 200, await response.get_data(as_text=True)
    await sent(platform, 1)
    request = platform.sent[0]
    assert request.path == "/reply" and request.body["text"] == "You said: ping"
    assert request.headers["x-aman-signature"] == generic_headers("gen-secret", request.raw)[
        "X-Aman-Signature"]
    assert request.body["chat_id"] == "room"


def serve(settings: Settings) -> Any:
    """A served app for tests that build their own settings; yields its test client."""
    from contextlib import asynccontextmanager

    from aman.core.app import create_app
    @asynccontextmanager
    async def context() -> Any:
        app = create_app(settings)
        async with app.test_app():
            await wait_for(lambda: runtime_of(app).ready)
            yield app.test_client()

    return context()


async def test_stop_then_retry_from_the_chat(make_settings: SettingsFactory,
                                             platform: FakePlatforms) -> None:
    slow = " ".join(f"w{i}" for i in range(100))
    settings = scripted(make_settings, slow, "Done again.", token_ms=20,
                        channels=channels(platform))
    async with serve(settings) as client:
        await telegram(client, 1300, "/stop")
        assert await sent(platform, 1) == ["Nothing to stop."]
        await telegram(client, 1301, "/retry")
        assert (await sent(platform, 2))[1] == "Nothing to retry yet."
        runtime = runtime_of(client.app)
        await telegram(client, 1302, "write a lot")
        await wait_for(lambda: runtime.chat._workers.active, what="the reply to be streaming")
        await telegram(client, 1303, "/stop")
        assert (await sent(platform, 3))[2] == "Stopped."
        await settled(runtime)
        assert len(platform.sent) == 3  # the interrupted reply is not sent
        await telegram(client, 1304, "/retry")
        assert (await sent(platform, 4))[3] == "Done again."


async def test_a_reply_whose_fact_a_crash_lost_is_sent_after_the_restart_and_only_it(
        settings: Settings, platform: FakePlatforms) -> None:
    from aman.chat.model import StoredMessage

    async with serve(settings) as client:
        await telegram(client, 1400, "before the crash")
        await sent(platform, 1)
        (session,) = (await (await client.get("/chat/sessions")).get_json())["items"]
    # What a kill -9 between storing a reply and committing its agent:reply_ready leaves behind.
    async with serve(settings) as client:
        runtime = client.app.extensions["aman.core.runtime"]  # type: ignore[attr-defined]
        now = runtime.clock.now_ms()
        await runtime.chat._repo.add_exchange([StoredMessage(
            id="lost-reply", session_id=session["id"], seq=99, role="assistant",
            content="the reply nobody got", status="complete", created_at=now,
            updated_at=now)], version=session["version"] + 5, now=now)
    async with serve(settings) as client:
        texts = await sent(platform, 2)
        await settled(runtime_of(client.app))
    assert texts == ["You said: before the crash", "the reply nobody got"]
    assert len(platform.sent) == 2


async def test_the_bot_token_and_conversations_change_live(
        client: TestClientProtocol, runtime: Runtime, platform: FakePlatforms) -> None:
    confirm = {"x-aman-confirm": "yes"}
    changed = await client.post("/config/set", headers=confirm, json={
        "changes": {"channels.telegram.bot.bot_token": "999:new"}})
    assert changed.status_code == 200, await changed.get_data(as_text=True)
    await telegram(client, 1500, "after the rotation")
    await sent(platform, 1)
    assert platform.sent[0].path == "/bot999:new/sendMessage"
    broken = await client.post("/config/set", headers=confirm, json={
        "changes": {"channels.generic.bridge.reply_url": None}})
    body = await broken.get_json()
    assert broken.status_code == 400 and "reply_url" in body["error"]["message"], body
    off = await client.post("/config/set", headers=confirm, json={
        "changes": {"channels.telegram.bot.chat": None}})
    assert off.status_code == 200, await off.get_data(as_text=True)
    await telegram(client, 1501, "nobody answers now")
    await settled(runtime)
    assert len(platform.sent) == 1


async def test_an_edited_message_is_not_answered_again(client: TestClientProtocol,
                                                       runtime: Runtime,
                                                       platform: FakePlatforms) -> None:
    await telegram(client, 1600, "first try")
    await sent(platform, 1)
    update = telegram_message(1601, 1111, "first try, edited")
    update["edited_message"] = update.pop("message")
    response = await client.post("/im/telegram/bot/webhook", data=encode(update),
                                 headers=telegram_headers(SECRET))
    assert response.status_code == 200 and (await response.get_json())["event_id"]
    await settled(runtime)
    assert [s.text for s in platform.sent] == ["You said: first try"]
