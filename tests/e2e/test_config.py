"""Live configuration through the real daemon: a change applies and survives restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.daemons import Daemon, StartDaemon, run_aman

pytestmark = pytest.mark.e2e

CONFIRM = {"x-aman-confirm": "yes"}
START = {"event_bus": {"max_queue_size": 500}}


def capacity(daemon: Daemon) -> int:
    metrics = daemon.client.get("/debug/metrics").json()
    return int(metrics["event_bus"]["queue_capacity"])


def test_queue_limit_changes_live_and_survives_a_restart(start_daemon: StartDaemon) -> None:
    first = start_daemon(extra_config=START)
    override = first.home / "config.override.yaml"
    assert capacity(first) == 500

    # Refusals first: none of them changes anything or writes the file.
    refused = [
        (first.client.post("/config/set", json={"changes": {"event_bus.max_queue_size": 900}}),
         409, "confirmation_required"),
        (first.client.post("/config/set", headers=CONFIRM,
                           json={"changes": {"event_bus.max_queue_sizes": 900}}),
         400, "unknown_config_key"),
        (first.client.post("/config/set", headers=CONFIRM, json={"changes": {
            "event_bus.max_queue_size": 900, "http.bind": "127.0.0.1:1"}}),
         400, "config_restart_required"),
        (first.client.post("/config/set", headers=CONFIRM,
                           json={"changes": {"event_bus.max_queue_size": -1}}),
         400, "invalid_config_value"),
    ]
    for response, status, code in refused:
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert capacity(first) == 500
    assert not override.exists()

    response = first.client.post("/config/set", headers=CONFIRM,
                                 json={"changes": {"event_bus.max_queue_size": 1234}})
    assert response.status_code == 200, response.text
    assert response.json()["applied"] == {"event_bus.max_queue_size": 1234}
    assert capacity(first) == 1234
    audit = first.client.get("/audit-log", params={"action": "config.set", "outcome": "ok"}).json()
    assert audit["items"][0]["detail"]["changes"] == {
        "event_bus.max_queue_size": {"old": 500, "new": 1234}}
    assert first.stop() == 0

    assert yaml.safe_load(override.read_text()) == {"event_bus": {"max_queue_size": 1234}}
    second = start_daemon(extra_config=START, home=first.home)
    assert capacity(second) == 1234  # the override file beats the config file's 500
    keys = {e["key"]: e["value"] for e in second.client.get("/config/live-keys").json()["keys"]}
    assert keys["event_bus.max_queue_size"] == 1234


def test_config_validate_reports_a_broken_override_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.override.yaml").write_text("http:\n  bind: 0.0.0.0:1\n")
    result = run_aman("config", "validate", "--home", str(home))
    assert result.returncode == 2
    assert "config.override.yaml" in result.stderr and "http.bind" in result.stderr
