"""The heartbeat through the real daemon: empty checklists and closed hours cost no model call,
HEARTBEAT_OK delivers nothing, an alert reaches the (fake) Telegram once, a busy agent is
skipped and runs at the next tick, and the heartbeat session stays short."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.channels.fake_platforms import FakePlatforms
from tests.e2e.daemons import Daemon, daemon_context
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

ALERT = "The build server has been down since noon. " * 10



@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, platform: FakePlatforms,
           workspace: Path) -> Iterator[Daemon]:
    closed = datetime.now(UTC) + timedelta(hours=3)
    config = {
        "llm": {"default_provider": "s", "providers": {
            "s": {"kind": "scripted", "replies": ["HEARTBEAT_OK", ALERT]},
            "slow": {"kind": "scripted", "replies": ["slow words " * 40], "token_ms": 40},
            "quick": {"kind": "scripted", "replies": ["HEARTBEAT_OK"]}}},
        "tools": {"workspace_dir": str(workspace)},
        "channels": {"telegram": {"bot": {"bot_token": "123:abc", "api_base": platform.url,
                                          "secret": "hook-secret"}}},
        "agents": {
            "aman": {"heartbeat": {"every": "30m",
                                   "target": {"channel": "telegram.bot", "chat": "42"}}},
            "busy": {"provider": "slow", "heartbeat": {"every": "1h", "target": "none"}},
            "night": {"provider": "quick", "heartbeat": {
                "every": "2h", "active_hours": {"start": closed.strftime("%H:00"),
                                                "end": (closed + timedelta(hours=1))
                                                .strftime("%H:00")}}},
            "short": {"provider": "quick", "heartbeat": {"every": "1h", "keep_exchanges": 2,
                                                         "model": "tiny-model"}},
            "quiet": {},
        },
    }
    with daemon_context(tmp_path_factory.mktemp("heartbeat"), extra_config=config) as running:
        yield running


def runs(daemon: Daemon, agent: str) -> list[dict[str, Any]]:
    response = daemon.client.get(f"/agents/{agent}/heartbeat/runs")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def tick(daemon: Daemon, agent: str) -> dict[str, Any]:
    """Wake the heartbeat and return the tick it recorded."""
    before = len(runs(daemon, agent))
    woken = daemon.client.post(f"/agents/{agent}/heartbeat/wake")
    assert woken.status_code == 202, woken.text
    return dict(wait_for_sync(lambda: (found := runs(daemon, agent)) and len(found) > before
                         and found[0], what=f"a heartbeat tick of {agent}"))


def model_calls(daemon: Daemon, agent: str) -> int:
    groups = daemon.client.get("/usage", params={"group_by": "agent"}).json()["groups"]
    return sum(int(g["calls"]) for g in groups if g["key"] == agent)


def test_heartbeat_is_off_unless_configured(daemon: Daemon) -> None:
    quiet = daemon.client.get("/agent/quiet").json()["heartbeat"]
    assert quiet["enabled"] is False and quiet["every_sec"] == 0
    assert daemon.client.get("/agent/aman").json()["heartbeat"]["every_sec"] == 1800
    refused = daemon.client.post("/agents/quiet/heartbeat/wake")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "heartbeat_off"
    assert daemon.client.post("/agents/ghost/heartbeat/wake").status_code == 404


def test_an_empty_checklist_is_skipped_without_a_model_call(daemon: Daemon,
                                                            workspace: Path) -> None:
    (workspace / "HEARTBEAT.md").write_text("# Checklist\n\n<!-- nothing yet -->\n")
    run = tick(daemon, "aman")
    assert run["outcome"] == "skipped" and run["reason"] == "empty_file"
    assert model_calls(daemon, "aman") == 0


def test_ok_delivers_nothing_and_an_alert_is_sent_once(daemon: Daemon, workspace: Path,
                                                       platform: FakePlatforms) -> None:
    (workspace / "HEARTBEAT.md").write_text("# Checklist\n- Is the build server up?\n")
    ok = tick(daemon, "aman")
    assert ok["outcome"] == "ok" and ok["delivered_to"] is None and ok["input_tokens"] > 0
    alerted = tick(daemon, "aman")
    assert alerted["outcome"] == "alerted"
    assert alerted["delivered_to"] == "telegram:bot:42"
    wait_for_sync(lambda: len(platform.sent_now()) >= 1, 10.0,
                  what="a message at the fake platform")
    assert [s.text for s in platform.sent] == [ALERT.strip(" .")]
    assert platform.sent[0].body["chat_id"] in ("42", 42)
    purposes = daemon.client.get("/usage", params={"group_by": "purpose"}).json()["groups"]
    assert [g["key"] for g in purposes if g["key"] == "heartbeat"] == ["heartbeat"]


def test_outside_active_hours_is_skipped(daemon: Daemon, workspace: Path) -> None:
    (workspace / "HEARTBEAT.md").write_text("- look around\n")
    run = tick(daemon, "night")
    assert run["outcome"] == "skipped" and run["reason"] == "outside_active_hours"
    assert model_calls(daemon, "night") == 0


def test_a_busy_agent_is_skipped_and_runs_at_the_next_tick(daemon: Daemon,
                                                           workspace: Path) -> None:
    (workspace / "HEARTBEAT.md").write_text("- look around\n")
    session = daemon.client.post("/chat/session/create", json={"agent_id": "busy"}).json()
    daemon.client.post(f"/chat/session/{session['id']}/send", json={"text": "talk slowly"})
    wait_for_sync(lambda: any(m["status"] == "streaming" for m in daemon.client.get(
        f"/chat/session/{session['id']}/state").json()["messages"]), what="a running turn")
    assert tick(daemon, "busy")["reason"] == "busy"
    wait_for_sync(lambda: all(m["status"] != "streaming" for m in daemon.client.get(
        f"/chat/session/{session['id']}/state").json()["messages"]), what="the turn to end")
    after = tick(daemon, "busy")
    assert after["outcome"] in ("ok", "alerted") and after["reason"] is None


def test_the_heartbeat_session_stays_short_after_many_ticks(daemon: Daemon,
                                                            workspace: Path) -> None:
    (workspace / "HEARTBEAT.md").write_text("- look around\n")
    outcomes = [tick(daemon, "short")["outcome"] for _ in range(50)]
    assert outcomes == ["ok"] * 50
    state = daemon.client.get("/chat/session/heartbeat:short/state").json()
    assert len(state["messages"]) <= 4
    assert len(runs(daemon, "short")) == 50
    models = daemon.client.get("/usage", params={"group_by": "model"}).json()["groups"]
    assert "tiny-model" in {g["key"] for g in models}  # heartbeat.model, not the agent's
