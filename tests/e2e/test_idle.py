"""Idle runs through the real daemon over HTTP with the scripted provider.

``POST /idle-run`` runs a shipped idle skill (the session gets the idle message and the scripted
reply); availability follows the shipped skills and the work queue; the idle scheduler fires
after a short ``after_sec`` and chat messages keep cancelling it until they stop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, daemon_context
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

AFTER_SEC = 1.0
REPLY = "Idle reply from the script."
IDLE_CONFIG: dict[str, Any] = {
    "llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted",
                                                         "replies": [REPLY]}}},
    "idle": {"enabled": True, "after_sec": AFTER_SEC, "max_runs_per_hour": 60,
             "weights": {"study": 1, "fun": 1},
             "work_queue": [{"id": "garden", "project": "home", "title": "Plan the garden"}]},
}


@pytest.fixture(scope="module")
def idle_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with the scripted provider and the idle scheduler on."""
    with daemon_context(tmp_path_factory.mktemp("idle"), extra_config=IDLE_CONFIG) as running:
        yield running



def messages(daemon: Daemon, session_id: str) -> list[dict[str, Any]]:
    response = daemon.client.get(f"/chat/session/{session_id}/state")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def answered(daemon: Daemon, session_id: str) -> list[dict[str, Any]]:
    """The session's messages once its first reply is complete."""
    def done() -> list[dict[str, Any]] | None:
        found = messages(daemon, session_id)
        return found if len(found) >= 2 and found[1]["status"] == "complete" else None

    return list(wait_for_sync(done, what=f"a reply in session {session_id}"))


def events(daemon: Daemon, event_type: str) -> list[dict[str, Any]]:
    """Stored events of one type, oldest first."""
    response = daemon.client.get("/events/recent", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [e for e in reversed(response.json()["items"]) if e["event_type"] == event_type]


def test_idle_run_runs_a_shipped_skill(idle_daemon: Daemon) -> None:
    response = idle_daemon.client.post("/idle-run", json={"tag": "FUN"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"session_id": body["session_id"], "skill_name": "idle-creative-break",
                    "tag": "fun", "background": False}
    user, reply = answered(idle_daemon, body["session_id"])[:2]
    assert user["content"].startswith("[IDLE ACTION] ")
    assert "<<<METHODOLOGY idle-creative-break>>>" in user["content"]
    assert "# Creative break" in user["content"]
    assert reply["role"] == "assistant" and reply["content"] == REPLY
    missing = idle_daemon.client.post("/idle-run", json={})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_tag"
    unknown = idle_daemon.client.post("/idle-run", json={"tag": "sleep"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "no_idle_skill"


def test_a_work_run_resumes_the_items_session(idle_daemon: Daemon) -> None:
    availability = idle_daemon.client.get("/agents/idle-availability")
    assert availability.json() == {"agents": {"aman": {"work": True, "study": True,
                                                       "fun": True}}}
    first = idle_daemon.client.post("/idle-run", json={"tag": "work", "background": True})
    assert first.status_code == 201, first.text
    session_id = first.json()["session_id"]
    assert session_id == "work:aman:home:garden"
    assert "Work item home/garden: Plan the garden" in answered(idle_daemon,
                                                               session_id)[0]["content"]
    again = idle_daemon.client.post("/idle-run", json={"tag": "work", "project_key": "home",
                                                       "work_id": "garden"})
    assert again.json()["session_id"] == session_id
    wait_for_sync(lambda: len(messages(idle_daemon, session_id)) == 4
             and messages(idle_daemon, session_id)[3]["status"] == "complete",
             what="the second exchange of the work session")


def test_the_scheduler_fires_after_quiet_and_chat_cancels_it(idle_daemon: Daemon) -> None:
    session = idle_daemon.client.post("/chat/session/create", json={"title": "talking"})
    assert session.status_code == 201, session.text
    session_id = session.json()["id"]
    sent_at: list[int] = []
    started = time.monotonic()
    while time.monotonic() - started < 2.5 * AFTER_SEC:  # talk for longer than after_sec
        response = idle_daemon.client.post(f"/chat/session/{session_id}/send",
                                           json={"text": "still here"})
        assert response.status_code == 202, response.text
        sent_at.append(int(time.time() * 1000))
        # The user answers as soon as they have read the reply.
        wait_for_sync(lambda: (found := messages(idle_daemon, session_id))
                      and len(found) == 2 * len(sent_at) and found[-1]["status"] == "complete",
                      what="the reply to the last message")
    first, last = sent_at[0], sent_at[-1]

    def run_after_talk() -> dict[str, Any] | None:
        return next((e for e in events(idle_daemon, "idle:run_started")
                     if e["source"] == "idle:scheduler" and e["timestamp"] > first + 50), None)

    run = wait_for_sync(run_after_talk, timeout=5 * AFTER_SEC, what="a scheduled idle run")
    # Nothing ran while we talked: the first run after the first message came a full
    # after_sec after the last one.
    assert run["timestamp"] - last >= AFTER_SEC * 1000 - 100, (run, last)
    cancelled = [e for e in events(idle_daemon, "idle:cancelled")
                 if first - 50 <= e["timestamp"] <= last + 500]
    assert cancelled and cancelled[-1]["payload"]["activity_source"] == "chat:session"
    payload = run["payload"]
    assert payload["trigger"] == "scheduler" and payload["tag"] in ("study", "fun")
    assert payload["session_type"] == "background" and payload["background"] is True
    user, reply = answered(idle_daemon, payload["session_id"])[:2]
    assert user["content"].startswith("[IDLE ACTION] ") and reply["content"] == REPLY
