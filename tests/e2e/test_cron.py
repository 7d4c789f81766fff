"""Cron through the real daemon: a seconds-field job fires into a YAML event skill and its runs
are listed; after the daemon was stopped across a due time, ``catch_up: latest`` fires once at
boot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

ECHO = """name: cron-echo
version: 1.0.0
triggers:
  - event_types: [cron_tick]
    sources: ["cron:e2e-*"]
actions:
  - emit:
      event_type: test:cron_seen
      payload: {job: "{{ payload.cron.job_id }}", catch_up: "{{ payload.cron.catch_up }}"}
"""



def runs(daemon: Daemon, job_id: str) -> list[dict[str, Any]]:
    response = daemon.client.get(f"/cron/{job_id}/runs?limit=200")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_seconds_job_fires_into_a_yaml_skill_and_lists_its_runs(
    start_daemon: StartDaemon, tmp_path: Path,
) -> None:
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "cron-echo.yaml").write_text(ECHO, encoding="utf-8")
    daemon = start_daemon(extra_config={"skills": {"dirs": [str(folder)]}})
    added = daemon.client.post("/cron/add", json={"id": "e2e-tick", "expression": "* * * * * *"})
    assert added.status_code == 201, added.text
    assert added.json()["next_run_at"] is not None

    ok = wait_for_sync(lambda: [r for r in runs(daemon, "e2e-tick") if r["outcome"] == "ok"][1:],
                  what="two ok runs")
    first = ok[-1]
    assert first["event_id"] and first["catch_up"] is False
    assert first["fired_at"] >= first["scheduled_at"]

    dumped = daemon.client.get(f"/events/dump/{first['event_id']}").json()
    event = dumped["event"]
    assert event["source"] == "cron:e2e-tick" and event["event_type"] == "cron_tick"
    assert event["payload"]["cron"]["scheduled_at_ms"] == first["scheduled_at"]

    def echoed() -> dict[str, Any] | None:
        trace = daemon.client.get(f"/events/trace/{event['metadata']['trace_id']}").json()
        return next((e for e in trace["events"] if e["event_type"] == "test:cron_seen"), None)

    seen = wait_for_sync(echoed, what="the skill's event")
    assert seen["payload"] == {"job": "e2e-tick", "catch_up": False}
    assert seen["metadata"]["parent_event_id"] == first["event_id"]

    listed = daemon.client.get("/cron").json()["items"]
    assert [j["id"] for j in listed] == ["e2e-tick"]
    assert listed[0]["last_outcome"] == "ok" and listed[0]["last_run_at"]

    removed = daemon.client.post("/cron/e2e-tick/remove")
    assert removed.status_code == 200 and daemon.client.get("/cron").json()["items"] == []


def test_catch_up_latest_fires_once_at_boot_after_a_stop(start_daemon: StartDaemon) -> None:
    config = {"cron": {"jobs": [{"id": "e2e-catch", "expression": "*/2 * * * * *",
                                 "catch_up": "latest", "payload": {"why": "e2e"}}]}}
    first = start_daemon(extra_config=config)
    job = first.client.get("/cron/e2e-catch").json()
    assert job["origin"] == "config" and job["catch_up"] == "latest"
    wait_for_sync(lambda: any(r["outcome"] == "ok" for r in runs(first, "e2e-catch")),
             what="a first run")
    assert first.stop() == 0
    # A firing time falls while the daemon is down: the next even second after the stop passes.
    missed_ms = (int(time.time() * 1000) // 2000 + 1) * 2000
    wait_for_sync(lambda: time.time() * 1000 > missed_ms + 50,
                  what="an even second to pass while the daemon is down")

    second = start_daemon(extra_config=config, home=first.home)
    caught = [r for r in runs(second, "e2e-catch") if r["catch_up"] and r["outcome"] == "ok"]
    assert len(caught) == 1, runs(second, "e2e-catch")
    run = caught[0]
    assert run["scheduled_at"] % 2000 == 0
    event = second.client.get(f"/events/dump/{run['event_id']}").json()["event"]
    assert event["payload"]["cron"]["catch_up"] is True and event["payload"]["why"] == "e2e"
    # Live firings go on afterwards; none of them is marked as a catch-up.
    wait_for_sync(lambda: any(r["outcome"] == "ok" and not r["catch_up"]
                         and r["scheduled_at"] > run["scheduled_at"]
                         for r in runs(second, "e2e-catch")), what="a live run after boot")
    assert len([r for r in runs(second, "e2e-catch")
                if r["catch_up"] and r["outcome"] == "ok"]) == 1
