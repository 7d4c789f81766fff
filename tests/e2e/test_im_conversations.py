"""IM conversations through the real daemon, a fake Telegram and Slack API over real HTTP and the
scripted provider: a Telegram update delivered twice is answered once, a 5 000
character reply is split, a failing platform parks the reply in the DLQ and a DLQ retry sends it,
an approval is answered with /approve, /new starts a fresh session, and a conversation keeps its
session across a kill -9."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.channels.fake_platforms import FakePlatforms
from tests.channels.samples import (
    encode,
    slack_event,
    slack_headers,
    telegram_headers,
    telegram_message,
)
from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

SECRET = "tg-secret"
LONG = " ".join(["longwords"] * 500)  # 4 999 characters


@pytest.fixture
def platform() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    yield fake
    fake.close()


def config(fake: FakePlatforms, *replies: str, **extra: Any) -> dict[str, Any]:
    return {
        "llm": {"default_provider": "s",
                "providers": {"s": {"kind": "scripted",
                                    "replies": list(replies) or ["You said: {input}"]}}},
        "event_bus": {"retry_backoff_ms": [20, 40], "max_retries": 2},
        "channels": {
            "telegram": {"bot": {"secret": SECRET, "bot_token": "123:abc", "api_base": fake.url,
                                 "chat": {"session_per": "chat"}}},
            "slack": {"ws": {"secret": "slack-secret", "bot_token": "xoxb-1",
                             "api_base": fake.url, "chat": {"session_per": "thread"}}},
        },
        **extra,
    }


def telegram(daemon: Daemon, update_id: int, text: str, chat_id: int = 1111) -> dict[str, Any]:
    response = daemon.client.post("/im/telegram/bot/webhook", content=encode(
        telegram_message(update_id, chat_id, text)), headers=telegram_headers(SECRET))
    assert response.status_code == 200, response.text
    return dict(response.json())


def texts(fake: FakePlatforms, count: int, timeout: float = 10.0) -> list[str]:
    wait_for_sync(lambda: len(fake.sent_now()) >= count, timeout,
                  what=f"{count} message(s) at the fake platform")
    return [s.text for s in fake.sent_now()]


def of_type(daemon: Daemon, event_type: str) -> list[dict[str, Any]]:
    """Stored events of ``event_type``."""
    items = daemon.client.get("/events/recent", params={"limit": 1000}).json()["items"]
    return [e for e in items if e["event_type"] == event_type]


def sessions(daemon: Daemon) -> list[dict[str, Any]]:
    return list(daemon.client.get("/chat/sessions").json()["items"])


def test_a_telegram_update_delivered_twice_is_answered_once_and_long_replies_are_split(
        start_daemon: StartDaemon, platform: FakePlatforms) -> None:
    daemon = start_daemon(extra_config=config(platform, "You said: {input}", LONG))
    first = telegram(daemon, 10, "hello")
    again = telegram(daemon, 10, "hello")  # Telegram redelivers an update it thinks was lost
    assert again["duplicate"] is True and again["event_id"] == first["event_id"]
    assert texts(platform, 1) == ["You said: hello"]
    assert platform.sent[0].path == "/bot123:abc/sendMessage"
    (session,) = sessions(daemon)
    state = daemon.client.get(f"/chat/session/{session['id']}/state").json()
    assert [m["content"] for m in state["messages"]] == ["hello", "You said: hello"]

    telegram(daemon, 11, "now talk a lot")
    parts = texts(platform, 3)[1:]
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == LONG
    # Once both replies are recorded delivered, every part of them has been sent.
    wait_for_sync(lambda: len(of_type(daemon, "im:delivered")) == 2,
                  what="both replies recorded delivered")
    assert len(platform.sent) == 3


def test_a_failing_platform_lands_the_reply_in_the_dlq_and_a_retry_delivers_it(
        start_daemon: StartDaemon, platform: FakePlatforms) -> None:
    daemon = start_daemon(extra_config=config(platform))
    platform.fail_next(3, status=503)
    telegram(daemon, 20, "are you there")
    (entry,) = wait_for_sync(lambda: daemon.client.get("/dlq").json()["items"],
                             what="the reply in the DLQ")
    assert entry["handler"] == "im-outbound" and entry["event_type"] == "im:outbound"
    assert "503" in entry["reason"] and platform.sent == []
    refused = daemon.client.post(f"/dlq/{entry['id']}/retry")
    assert refused.status_code in (400, 409, 428)  # destructive: needs the confirmation header
    retried = daemon.client.post(f"/dlq/{entry['id']}/retry", headers={"x-aman-confirm": "yes"})
    assert retried.status_code == 202, retried.text
    assert texts(platform, 1) == ["You said: are you there"]


def test_approve_in_the_chat_runs_the_tool_and_new_starts_a_fresh_session(
        start_daemon: StartDaemon, platform: FakePlatforms, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write = json.dumps({"tool_calls": [{"name": "write",
                                        "arguments": {"path": "notes.md", "content": "hello"}}]})
    daemon = start_daemon(extra_config=config(
        platform, write, "Saved: {tool_result}", "You said: {input}",
        tools={"workspace_dir": str(workspace)}))
    telegram(daemon, 30, "save a note")
    (prompt,) = texts(platform, 1)
    assert "write" in prompt and "/approve" in prompt
    code = prompt.rsplit("/deny ", 1)[1].rstrip(".")
    assert not (workspace / "notes.md").exists()
    telegram(daemon, 31, f"/approve {code}")
    answered = texts(platform, 3)[1:]
    assert "Approved: write." in answered
    assert any(t.startswith("Saved:") for t in answered)
    assert (workspace / "notes.md").read_text() == "hello"

    telegram(daemon, 32, "/new")
    assert texts(platform, 4)[3] == "Started a fresh conversation."
    telegram(daemon, 33, "fresh start")
    assert texts(platform, 5)[4] == "You said: fresh start"
    newest, older = sessions(daemon)
    state = daemon.client.get(f"/chat/session/{newest['id']}/state").json()
    assert [m["content"] for m in state["messages"]] == ["fresh start", "You said: fresh start"]


def test_slack_replies_in_the_thread_and_conversations_survive_a_kill_9(
        start_daemon: StartDaemon, platform: FakePlatforms, tmp_path: Path) -> None:
    home = tmp_path / "im-home"
    first = start_daemon(extra_config=config(platform), home=home)

    def slack(daemon: Daemon, event_id: str, text: str, ts: str, thread: str | None) -> None:
        message = {"type": "message", "text": text, "user": "U1", "ts": ts, "channel": "C9"}
        if thread:
            message["thread_ts"] = thread
        body = encode(slack_event(message, event_id=event_id))
        response = daemon.client.post("/im/slack/ws/webhook", content=body, headers=slack_headers(
            "slack-secret", int(time.time()), body))
        assert response.status_code == 200, response.text

    slack(first, "Ev1", "start a thread", "1700000000.000100", None)
    texts(platform, 1)
    # Kill only once the sent part is recorded: a kill between the platform taking it and the
    # record would send it again after the restart (at-least-once, docs/channels.md).
    wait_for_sync(lambda: of_type(first, "im:delivered"), what="the delivery to be recorded")
    assert platform.sent[0].body["thread_ts"] == "1700000000.000100"
    assert platform.sent[0].headers["authorization"] == "Bearer xoxb-1"
    first.process.kill()
    first.process.wait(timeout=10)

    second = start_daemon(extra_config=config(platform), home=home)
    slack(second, "Ev2", "still here?", "1700000001.000100", "1700000000.000100")
    assert texts(platform, 2)[1] == "You said: still here?"
    assert platform.sent[1].body["thread_ts"] == "1700000000.000100"
    (session,) = sessions(second)  # the thread kept its session across the restart
    state = second.client.get(f"/chat/session/{session['id']}/state").json()
    assert [m["content"] for m in state["messages"]][-2:] == [
        "still here?", "You said: still here?"]
