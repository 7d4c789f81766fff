"""Skills through the real daemon: hot reload, versions, errors, an event skill, rollback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

#: The promise: a written skill is listed within one second.
LISTED_WITHIN_SEC = 1.0



def md(name: str, description: str, version: str) -> str:
    return f"---\nname: {name}\ndescription: {description}\nversion: {version}\n---\nDo it.\n"


def skill(daemon: Daemon, name: str) -> dict[str, Any] | None:
    items = daemon.client.get("/skills").json()["items"]
    return next((item for item in items if item["name"] == name), None)


ECHO = """name: echo
version: 1.0.0
triggers:
  - event_types: [message_received]
    payload: {text: "/echo*"}
actions:
  - emit:
      event_type: test:echoed
      payload: {text: "{{ payload.text }}", source: "{{ event.source }}"}
"""


def test_skills_hot_reload_event_skill_and_rollback(start_daemon: StartDaemon,
                                                    tmp_path: Path) -> None:
    folder = tmp_path / "skills"
    folder.mkdir()
    daemon = start_daemon(extra_config={"skills": {"dirs": [str(folder)]}})
    daemon.wait_watching(folder)  # the promise holds from the armed watch on
    path = folder / "hello" / "SKILL.md"
    path.parent.mkdir()

    # write -> listed within a second
    written = time.monotonic()
    path.write_text(md("hello", "Say hello", "1.0.0"), encoding="utf-8")
    wait_for_sync(lambda: skill(daemon, "hello"), timeout=LISTED_WITHIN_SEC, what="listed")
    assert time.monotonic() - written < LISTED_WITHIN_SEC

    # edit -> new version
    path.write_text(md("hello", "Say hello twice", "1.1.0"), encoding="utf-8")
    wait_for_sync(lambda: (s := skill(daemon, "hello")) and s["version"] == "1.1.0", what="edited")
    versions = daemon.client.get("/skill/hello/versions").json()["items"]
    assert [v["version"] for v in versions] == ["1.1.0", "1.0.0"]

    # break -> error with file and line; fix -> healed
    path.write_text("---\nname: hello\ndescription: [broken\n---\n", encoding="utf-8")
    broken = wait_for_sync(lambda: (s := skill(daemon, "hello")) and s["status"] == "error" and s,
                      what="broken")
    assert broken["error"]["file"] == str(path) and broken["error"]["line"] == 4
    path.write_text(md("hello", "Say hello twice", "1.1.0"), encoding="utf-8")
    wait_for_sync(lambda: (s := skill(daemon, "hello")) and s["status"] == "ok", what="healed")

    # a YAML skill triggered by a pushed event emits its event, visible in the trace
    (folder / "echo.yaml").write_text(ECHO, encoding="utf-8")
    wait_for_sync(lambda: skill(daemon, "echo"), what="echo listed")
    accepted = daemon.client.post("/events/push", json={
        "source": "chat:e2e", "type": "message_received", "payload": {"text": "/echo hi"}}).json()

    def echoed() -> dict[str, Any] | None:
        trace = daemon.client.get(f"/events/trace/{accepted['trace_id']}").json()
        types = {e["event_type"] for e in trace["events"]}
        steps = {s["step"] for s in trace["steps"]}
        return trace if {"test:echoed", "skill:completed"} <= types and "skill:completed" in steps \
            else None

    trace = wait_for_sync(echoed, what="echo emitted")
    emitted = next(e for e in trace["events"] if e["event_type"] == "test:echoed")
    assert emitted["payload"] == {"text": "/echo hi", "source": "chat:e2e"}
    assert emitted["metadata"]["parent_event_id"] == accepted["id"]

    # rollback without confirmation: 409 and the file unchanged; with it: content restored
    before = path.read_text(encoding="utf-8")
    refused = daemon.client.post("/skill/hello/rollback", json={"version": "1.0.0"})
    assert refused.status_code == 409
    assert path.read_text(encoding="utf-8") == before
    done = daemon.client.post("/skill/hello/rollback", json={"version": "1.0.0"},
                              headers={"x-aman-confirm": "yes"})
    assert done.status_code == 200, done.text
    assert path.read_text(encoding="utf-8") == md("hello", "Say hello", "1.0.0")
    assert skill(daemon, "hello")["version"] == "1.0.0"  # type: ignore[index]
