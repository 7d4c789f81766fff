"""IM webhooks, event sources and notifications through the real daemon over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.channels import samples
from tests.e2e.daemons import TEST_TOKEN, Daemon, free_port
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e



CHANNELS = {
    "telegram": {"bot1": {"secret": "tg-secret", "allowed_chats": ["1111111"], "agent_id": "aman"}},
    "slack": {"work": {"secret": samples.SLACK_DOC_SECRET}},
    "generic": {"bridge": {"secret": "bridge-key"}, "nosecret": {}},
}


def recent_of_type(daemon: Daemon, event_type: str) -> list[dict[str, Any]]:
    items = daemon.client.get("/events/recent?limit=1000", headers=daemon.auth).json()["items"]
    return [e for e in items if e["event_type"] == event_type]


def test_im_webhooks_verify_normalise_and_deduplicate(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config={"channels": CHANNELS})
    update = samples.encode(samples.telegram_message(5001, 1111111, "hi aman"))
    url = "/im/telegram/bot1/webhook"
    # Platforms cannot send the daemon's token: the signature alone authenticates.
    first = daemon.client.post(url, content=update, headers=samples.telegram_headers("tg-secret"))
    assert first.status_code == 200 and first.json()["ok"] is True
    again = daemon.client.post(url, content=update, headers=samples.telegram_headers("tg-secret"))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    forged = daemon.client.post(url,
                                content=samples.encode(samples.telegram_message(5002, 1111111)),
                                headers=samples.telegram_headers("wrong"))
    assert forged.status_code == 401
    stranger = daemon.client.post(url, content=samples.encode(samples.telegram_message(5003, 999)),
                                  headers=samples.telegram_headers("tg-secret"))
    assert stranger.status_code == 200 and stranger.json()["dropped"] == "stranger"
    received = wait_for_sync(lambda: recent_of_type(daemon, "message_received"),
                             what="message event")
    assert len(received) == 1
    payload = received[0]["payload"]
    assert payload["text"] == "hi aman" and payload["platform"] == "telegram"
    assert payload["chat_id"] == "1111111" and payload["reply_target"]["instance"] == "bot1"
    assert received[0]["source"] == "im:telegram:bot1" and received[0]["agent_id"] == "aman"
    dropped = daemon.client.get("/audit-log?action=im.message_dropped", headers=daemon.auth).json()
    assert dropped["items"][0]["outcome"] == "forbidden"

    body = samples.encode(samples.SLACK_URL_VERIFICATION)
    challenge = daemon.client.post("/im/slack/work/webhook", content=body,
                                   headers=samples.slack_headers(samples.SLACK_DOC_SECRET,
                                                                 int(time.time()), body))
    assert challenge.json()["challenge"] == samples.SLACK_URL_VERIFICATION["challenge"]
    stale = daemon.client.post("/im/slack/work/webhook", content=body,
                               headers=samples.slack_headers(samples.SLACK_DOC_SECRET,
                                                             int(time.time()) - 600, body))
    assert stale.status_code == 401

    generic = samples.encode(samples.GENERIC_MESSAGE)
    signed = daemon.client.post("/im/generic/bridge/webhook", content=generic,
                                headers=samples.generic_headers("bridge-key", generic))
    assert signed.status_code == 200 and signed.json()["event_id"]
    refused = daemon.client.post("/im/generic/nosecret/webhook", content=generic,
                                 headers=samples.generic_headers("", generic))
    assert refused.status_code == 401
    assert len(recent_of_type(daemon, "message_received")) == 2


def test_im_channel_reload_rereads_the_config_file(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config={"channels": CHANNELS})
    url = "/im/telegram/bot1/webhook"
    update = samples.encode(samples.telegram_message(7001, 2222222))
    dropped = daemon.client.post(url, content=update, headers=samples.telegram_headers("tg-secret"))
    assert dropped.json()["dropped"] == "stranger"
    config = yaml.safe_load(daemon.config_path.read_text())
    config["channels"]["telegram"]["bot1"]["allowed_chats"] = ["2222222"]
    daemon.config_path.write_text(yaml.safe_dump(config))
    assert daemon.client.post("/im-channel/telegram/bot1/reload").status_code == 401
    reloaded = daemon.client.post("/im-channel/telegram/bot1/reload", headers=daemon.auth)
    assert reloaded.status_code == 200
    accepted = daemon.client.post(url, content=update,
                                  headers=samples.telegram_headers("tg-secret"))
    assert accepted.status_code == 200 and "dropped" not in accepted.json()
    missing = daemon.client.post("/im-channel/telegram/nobody/reload", headers=daemon.auth)
    assert missing.status_code == 404


def test_notifications_follow_dlq_entries(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(extra_config={
        "event_bus": {"retry_backoff_ms": [10], "max_retries": 1},
        "forwarders": [{"name": "down", "url": f"http://127.0.0.1:{free_port()}/x",
                        "event_types": ["job"]}]})
    pushed = daemon.client.post("/events/push", json={"source": "test:n", "type": "job"}).json()
    notes = wait_for_sync(lambda: [n for n in daemon.client.get("/notifications").json()["items"]
                              if n["category"] == "dlq"], what="DLQ notification")
    assert pushed["id"] in notes[0]["message"] and notes[0]["severity"] == "warning"
    assert daemon.client.get("/notifications/unread-count").json()["count"] >= 1
    critical = daemon.client.post("/notifications/test",
                                  json={"severity": "critical", "title": "t", "message": "m"})
    assert critical.status_code == 201
    refused = daemon.client.post(f"/notifications/{critical.json()['id']}/dismiss")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_dismissible"
    assert daemon.client.post(f"/notifications/{critical.json()['id']}/ack").status_code == 200
    dismissed = daemon.client.post("/notifications/dismiss-all").json()["dismissed"]
    assert dismissed >= 1
    assert daemon.client.get("/notifications?active_only=true").json()["items"] == []
    assert daemon.client.get("/notifications?severity=bogus").status_code == 400


def test_test_notifications_are_refused_when_a_token_is_set(token_daemon: Daemon) -> None:
    response = token_daemon.client.post("/notifications/test", json={}, headers=token_daemon.auth)
    assert response.status_code == 403


def test_file_watch_and_timer_sources_emit_and_pause(start_daemon: Callable[..., Daemon],
                                                     tmp_path: Path) -> None:
    watched = tmp_path / "inbox"
    watched.mkdir()
    daemon = start_daemon(extra_config={"sources": {
        "file_watch": [{"id": "inbox", "paths": [str(watched)], "patterns": ["*.txt"],
                        "debounce_ms": 50}],
        "timers": [{"id": "tick", "interval_ms": 200}]}})
    sources = {s["id"]: s for s in daemon.client.get("/event-sources").json()["items"]}
    assert sources["inbox"]["state"] == "running" and sources["tick"]["type"] == "timer"
    (watched / "note.txt").write_text("hello")
    (watched / "ignored.bin").write_text("x")
    created = wait_for_sync(lambda: recent_of_type(daemon, "file_created"), what="file_created")
    assert created[0]["payload"]["path"] == str(watched / "note.txt")
    assert created[0]["source"] == "file:inbox"
    assert all(e["payload"]["path"].endswith(".txt") for e in created)
    wait_for_sync(lambda: recent_of_type(daemon, "timer_tick"), what="timer ticks")
    assert daemon.client.post("/source/tick/pause").status_code == 200

    def skipped(more_than: int) -> int:  # ticks the paused timer let pass (its health counter)
        items = daemon.client.get("/event-sources").json()["items"]
        tick = next(s for s in items if s["id"] == "tick")
        found = int(tick["health"]["suppressed_while_paused"])
        return found if found > more_than else 0

    # Once a tick was skipped, one the timer was emitting before the pause has been published.
    first = wait_for_sync(lambda: skipped(0), what="a tick skipped while paused")
    paused_at = len(recent_of_type(daemon, "timer_tick"))
    wait_for_sync(lambda: skipped(first + 2), what="three more intervals while paused")
    assert len(recent_of_type(daemon, "timer_tick")) <= paused_at + 1
    assert daemon.client.post("/event-source/tick/resume").status_code == 200
    wait_for_sync(lambda: len(recent_of_type(daemon, "timer_tick")) > paused_at + 1,
             what="ticks again")
    bad = daemon.client.put("/event-source/tick/config", json={"interval_ms": 1})
    assert bad.status_code == 400 and "config.interval_ms" in bad.json()["error"]["message"]
    assert daemon.client.post("/event-source/nope/pause").status_code == 404
