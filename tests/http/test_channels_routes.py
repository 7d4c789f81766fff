"""IM webhooks and channel reload through the served app."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from quart import Quart

from aman.config.loader import load_settings
from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.channels import samples as s
from tests.helpers import SettingsFactory, runtime_of, wait_for

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC_BIND = {"bind": "0.0.0.0:9090"}
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNELS: dict[str, Any] = {
    "telegram": {
        "bot1": {"secret": "s3", "allowed_chats": ["111"], "agent_id": "cortana"},
        "nosecret": {"secret": ""},
        "off": {"secret": "x", "enabled": False},
    },
    "slack": {"ws": {"secret": SLACK_SECRET}},
    "generic": {"bridge": {"secret": "g3", "agent_id": "ops"}},
}


async def served(app: Quart) -> None:
    await wait_for(lambda: runtime_of(app).ready)


@pytest.fixture
async def channel_app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    app = create_app(make_settings(channels=CHANNELS))
    async with app.test_app():
        await served(app)
        yield app


async def post_telegram(
    app: Quart,
    update: dict[str, Any],
    secret: str = "s3",
    instance: str = "bot1",
    headers: dict[str, str] | None = None,
) -> Any:
    return await app.test_client().post(
        f"/im/telegram/{instance}/webhook",
        data=s.encode(update),
        headers={**s.telegram_headers(secret), **(headers or {})},
    )


async def im_events(app: Quart, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = await app.test_client().get("/events/recent?limit=1000", headers=headers or {})
    items: list[dict[str, Any]] = (await response.get_json())["items"]
    return [e for e in items if e["source"].startswith("im:")]


async def audit(
    app: Quart, action: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    response = await app.test_client().get(f"/audit-log?action={action}", headers=headers or {})
    items: list[dict[str, Any]] = (await response.get_json())["items"]
    return items


async def test_telegram_message_becomes_a_normalized_event(channel_app: Quart) -> None:
    response = await post_telegram(channel_app, s.telegram_message(5001, 111, "status?"))
    assert response.status_code == 200
    body = await response.get_json()
    assert body["ok"] is True and body["duplicate"] is False
    [event] = await im_events(channel_app)
    assert event["id"] == body["event_id"]
    assert event["source"] == "im:telegram:bot1" and event["event_type"] == "message_received"
    assert event["agent_id"] == "cortana" and event["delivery"] == "at_least_once"
    assert event["dedup_key"] == "telegram:bot1:5001"
    assert event["payload"] == {
        "text": "status?",
        "platform": "telegram",
        "instance": "bot1",
        "chat_id": "111",
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
            "chat_id": "111",
            "thread_id": None,
        },
    }


async def test_a_redelivered_update_is_enqueued_once(channel_app: Quart) -> None:
    first = await (await post_telegram(channel_app, s.telegram_message(5002, 111))).get_json()
    again = await post_telegram(channel_app, s.telegram_message(5002, 111))
    assert again.status_code == 200
    assert await again.get_json() == {"ok": True, "event_id": first["event_id"], "duplicate": True}
    assert len(await im_events(channel_app)) == 1


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
async def test_bad_secret_is_401_and_enqueues_nothing(
    channel_app: Quart, headers: dict[str, str]
) -> None:
    response = await channel_app.test_client().post(
        "/im/telegram/bot1/webhook", data=s.encode(s.telegram_message(5003, 111)), headers=headers
    )
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "bad_secret_token"
    assert await im_events(channel_app) == []
    [refused] = await audit(channel_app, "im.webhook")
    assert refused["outcome"] == "unauthorized" and refused["target"] == "im:telegram/bot1"


async def test_a_channel_without_a_secret_refuses_everything(channel_app: Quart) -> None:
    response = await post_telegram(
        channel_app, s.telegram_message(5004, 111), secret="", instance="nosecret"
    )
    assert response.status_code == 401
    error = (await response.get_json())["error"]
    assert error["code"] == "secret_not_configured"
    assert "channels.telegram.nosecret.secret" in error["hint"]
    assert await im_events(channel_app) == []


async def test_disabled_unknown_and_unsupported_channels(channel_app: Quart) -> None:
    disabled = await post_telegram(
        channel_app, s.telegram_message(5005, 111), secret="x", instance="off"
    )
    assert disabled.status_code == 403
    assert (await disabled.get_json())["error"]["code"] == "channel_disabled"
    unknown = await post_telegram(channel_app, s.telegram_message(5005, 111), instance="nope")
    assert unknown.status_code == 404
    assert "telegram/nope" in (await unknown.get_json())["error"]["message"]
    platform = await channel_app.test_client().post("/im/discord/bot1/webhook", data=b"{}")
    assert platform.status_code == 404
    assert "discord" in (await platform.get_json())["error"]["message"]
    assert await im_events(channel_app) == []


async def test_strangers_are_dropped_with_200_and_an_audit_record(channel_app: Quart) -> None:
    response = await post_telegram(channel_app, s.telegram_message(5006, 222, "let me in"))
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "dropped": "stranger"}
    assert await im_events(channel_app) == []
    [record] = await audit(channel_app, "im.message_dropped")
    assert record["operator"] == "telegram/bot1" and record["outcome"] == "forbidden"
    assert record["target"] == "im:telegram/bot1"
    assert record["detail"]["chat_id"] == "222" and record["detail"]["reason"] == "stranger"
    assert "let me in" not in str(record)


async def test_non_message_updates_are_acknowledged_and_ignored(channel_app: Quart) -> None:
    response = await post_telegram(channel_app, s.TELEGRAM_CALLBACK_QUERY)
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "ignored": "update without a message"}
    assert await im_events(channel_app) == []


async def test_slack_url_verification_and_message_with_retry(channel_app: Quart) -> None:
    client = channel_app.test_client()
    challenge = s.encode(s.SLACK_URL_VERIFICATION)
    answered = await client.post(
        "/im/slack/ws/webhook",
        data=challenge,
        headers=s.slack_headers(SLACK_SECRET, int(time.time()), challenge),
    )
    assert answered.status_code == 200
    assert await answered.get_json() == {"challenge": s.SLACK_URL_VERIFICATION["challenge"]}

    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    first = await client.post(
        "/im/slack/ws/webhook",
        data=body,
        headers=s.slack_headers(SLACK_SECRET, int(time.time()), body),
    )
    assert first.status_code == 200
    retry = await client.post(
        "/im/slack/ws/webhook",
        data=body,
        headers=s.slack_headers(SLACK_SECRET, int(time.time()), body, retry=1),
    )
    assert (await retry.get_json())["duplicate"] is True
    [event] = await im_events(channel_app)
    assert event["id"] == (await first.get_json())["event_id"]
    assert event["source"] == "im:slack:ws"
    assert event["dedup_key"] == "slack:ws:C024BE91L:1355517523.000005"
    assert event["payload"]["text"] == "Live long and prospect."
    assert event["payload"]["reply_target"] == {
        "platform": "slack",
        "instance": "ws",
        "chat_id": "C024BE91L",
        "thread_id": None,
    }


async def test_slack_replayed_and_forged_requests_are_refused(channel_app: Quart) -> None:
    client = channel_app.test_client()
    body = s.encode(s.SLACK_CHANNEL_MESSAGE)
    stale = await client.post(
        "/im/slack/ws/webhook",
        data=body,
        headers=s.slack_headers(SLACK_SECRET, int(time.time()) - 600, body),
    )
    assert stale.status_code == 401
    assert (await stale.get_json())["error"]["code"] == "stale_timestamp"
    forged = await client.post(
        "/im/slack/ws/webhook", data=body, headers=s.slack_headers("guess", int(time.time()), body)
    )
    assert (await forged.get_json())["error"]["code"] == "bad_signature"
    assert await im_events(channel_app) == []


async def test_generic_message_and_bad_signature(channel_app: Quart) -> None:
    client = channel_app.test_client()
    body = s.encode(s.GENERIC_MESSAGE)
    bad = await client.post(
        "/im/generic/bridge/webhook", data=body, headers=s.generic_headers("wrong", body)
    )
    assert bad.status_code == 401 and await im_events(channel_app) == []
    ok = await client.post(
        "/im/generic/bridge/webhook",
        data=body,
        headers=s.generic_headers("g3", body, delivery="dlv-1"),
    )
    assert ok.status_code == 200
    [event] = await im_events(channel_app)
    assert event["agent_id"] == "ops" and event["dedup_key"] == "generic:bridge:delivery:dlv-1"
    assert event["payload"]["thread_id"] == "t-7"
    invalid = s.encode({"text": "hi"})
    refused = await client.post(
        "/im/generic/bridge/webhook", data=invalid, headers=s.generic_headers("g3", invalid)
    )
    assert refused.status_code == 400
    assert "body.chat_id" in (await refused.get_json())["error"]["message"]


# --- reload from a real config file -------------------------------------------------------------


def write_config(
    path: Path, allowed: Any, runtime_dir: Path, *, http: dict[str, Any] | None = None, **extra: Any
) -> None:
    telegram: dict[str, Any] = {"bot1": {"secret": "s3", "allowed_chats": allowed}}
    telegram.update(extra)
    document: dict[str, Any] = {
        "runtime": {"dir": str(runtime_dir)},
        "channels": {"telegram": telegram},
    }
    if http:
        document["http"] = http
    path.write_text(yaml.safe_dump(document))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reload re-reads the file with the process environment, as the daemon does.
    for name in list(os.environ):
        if name.startswith("AMAN_"):
            monkeypatch.delenv(name)


async def serve_file_config(
    tmp_path: Path, runtime_dir: Path, *, http: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[tuple[Quart, Path]]:
    config_path = tmp_path / "aman.yaml"
    write_config(config_path, ["111"], runtime_dir, http=http)
    settings = load_settings(config_path, env={}, overrides=overrides)
    app = create_app(settings, runtime=Runtime(settings, config_path=config_path))
    async with app.test_app():
        await served(app)
        yield app, config_path


@pytest.fixture
async def file_app(
    tmp_path: Path, runtime_dir: Path, clean_env: None
) -> AsyncIterator[tuple[Quart, Path]]:
    async for served_app in serve_file_config(tmp_path, runtime_dir):
        yield served_app


@pytest.fixture
async def token_file_app(
    tmp_path: Path, runtime_dir: Path, clean_env: None
) -> AsyncIterator[tuple[Quart, Path]]:
    # The file binds off loopback and the token comes as a flag would give it: re-reading the
    # file alone would fail the "token required off loopback" check (nothing is bound here).
    async for served_app in serve_file_config(
        tmp_path, runtime_dir, http=PUBLIC_BIND, **{"http.token": TOKEN}
    ):
        yield served_app


async def test_with_a_token_webhooks_need_none_but_reload_does(
    token_file_app: tuple[Quart, Path], runtime_dir: Path
) -> None:
    app, config_path = token_file_app
    response = await post_telegram(app, s.telegram_message(5007, 111))
    assert response.status_code == 200 and (await response.get_json())["ok"] is True
    assert len(await im_events(app, AUTH)) == 1
    write_config(config_path, ["111", "222"], runtime_dir, http=PUBLIC_BIND)
    client = app.test_client()
    refused = await client.post("/im-channel/telegram/bot1/reload")
    assert refused.status_code == 401
    assert runtime_of(app).channels.get("telegram", "bot1").config.allowed_chats == ["111"]
    reloaded = await client.post("/im-channel/telegram/bot1/reload", headers=AUTH)
    assert reloaded.status_code == 200
    assert (await reloaded.get_json())["channel"]["allowed_chats"] == ["111", "222"]
    assert runtime_of(app).settings.http.token.get_secret_value() == TOKEN


async def test_reload_picks_up_allowed_chats_from_the_config_file(
    file_app: tuple[Quart, Path], runtime_dir: Path
) -> None:
    app, config_path = file_app
    before = await post_telegram(app, s.telegram_message(6001, 222))
    assert await before.get_json() == {"ok": True, "dropped": "stranger"}

    write_config(config_path, ["111", "222"], runtime_dir)
    response = await app.test_client().post(
        "/im-channel/telegram/bot1/reload", headers={"x-aman-operator": "alice"}
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["changed"] == ["allowed_chats"] and body["added"] is False
    assert body["channel"]["allowed_chats"] == ["111", "222"]
    assert "s3" not in str(body["channel"].values())

    after = await post_telegram(app, s.telegram_message(6002, 222))
    assert (await after.get_json())["duplicate"] is False
    [event] = await im_events(app)
    assert event["payload"]["chat_id"] == "222"
    [record] = await audit(app, "im_channel.reload")
    assert record["operator"] == "alice" and record["target"] == "telegram/bot1"
    assert record["detail"]["changed"] == ["allowed_chats"]


async def test_reload_of_an_invalid_file_is_400_and_changes_nothing(
    file_app: tuple[Quart, Path], runtime_dir: Path
) -> None:
    app, config_path = file_app
    write_config(config_path, 5, runtime_dir)
    response = await app.test_client().post("/im-channel/telegram/bot1/reload")
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_config"
    assert "channels.telegram.bot1.allowed_chats" in error["message"]
    assert "keeps running" in error["hint"]
    assert runtime_of(app).channels.get("telegram", "bot1").config.allowed_chats == ["111"]


async def test_reload_of_an_instance_missing_from_the_file_is_404(
    file_app: tuple[Quart, Path], runtime_dir: Path
) -> None:
    app, config_path = file_app
    response = await app.test_client().post("/im-channel/telegram/bot9/reload")
    assert response.status_code == 404
    assert "telegram/bot9" in (await response.get_json())["error"]["message"]
    unsupported = await app.test_client().post("/im-channel/discord/bot1/reload")
    assert unsupported.status_code == 404


async def test_reload_adds_an_instance_written_after_boot(
    file_app: tuple[Quart, Path], runtime_dir: Path
) -> None:
    app, config_path = file_app
    assert (
        await post_telegram(app, s.telegram_message(6003, 1), secret="n3", instance="bot2")
    ).status_code == 404
    write_config(config_path, ["111"], runtime_dir, bot2={"secret": "n3"})
    response = await app.test_client().post("/im-channel/telegram/bot2/reload")
    assert response.status_code == 200 and (await response.get_json())["added"] is True
    accepted = await post_telegram(app, s.telegram_message(6003, 1), secret="n3", instance="bot2")
    assert accepted.status_code == 200 and "event_id" in await accepted.get_json()
