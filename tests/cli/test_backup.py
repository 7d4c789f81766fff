"""``aman backup`` of a running daemon under a load of pushed events, ``aman restore`` into a
fresh dir: a daemon booted there has every event acknowledged before the backup started, the
chat session, the skill file, and an audit chain that verifies."""

from __future__ import annotations

import json
import tarfile
import threading
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import aman_json, run
from tests.e2e.daemons import Daemon, StartDaemon

pytestmark = pytest.mark.e2e

SCRIPTED = {"llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted"}}}}
#: Room for the load: the per-source rate limit would otherwise pace the pusher.
LOAD = {"event_bus": {"rate_limit_per_sec": 100000, "rate_limit_burst": 100000}}
#: Events acknowledged before the backup starts; the load continues while it runs.
BEFORE_BACKUP = 300


class Pusher(threading.Thread):
    """Pushes events as fast as the daemon takes them and records each acknowledged id."""

    def __init__(self, daemon: Daemon) -> None:
        super().__init__(name="pusher")
        self.base_url = daemon.base_url
        self.acked: list[str] = []
        self.enough = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                response = client.post("/events/push", json={
                    "source": "test:load", "type": "load.pushed", "payload": {"n": n}})
                if response.status_code == 429:  # over the source's rate: not acknowledged
                    self.stop.wait(float(response.headers.get("retry-after", "0.1")))
                    continue
                assert response.status_code == 202, response.text
                self.acked.append(response.json()["id"])
                if len(self.acked) >= BEFORE_BACKUP:
                    self.enough.set()


def test_backup_under_load_restores_every_acknowledged_event(start_daemon: StartDaemon,
                                                             tmp_path: Path) -> None:
    daemon = start_daemon(extra_config={**SCRIPTED, **LOAD})
    where = ["--config", str(daemon.config_path), "--home", str(daemon.home)]
    session = aman_json(daemon, "send", "remember me", "--operator", "dana")["session_id"]
    skill = daemon.home / "skills" / "kept" / "SKILL.md"
    skill.parent.mkdir(parents=True, exist_ok=True)
    skill.write_text("---\nname: kept\ndescription: kept across a restore\n---\nBody.\n")
    assert run("config", "set", "event_bus.max_queue_size", "4321", "--yes", "--url",
               daemon.base_url, "--operator", "dana").returncode == 0

    pusher = Pusher(daemon)
    pusher.start()
    try:
        assert pusher.enough.wait(60), "the load did not get going"
        acknowledged = list(pusher.acked)  # all of these were answered 202 before the backup
        audit_before = daemon.client.get("/audit-log/verify").json()["checked"]
        archive = tmp_path / "state.tar.gz"
        backup = run("backup", str(archive), *where, "--json")
        assert backup.returncode == 0, backup.stderr
        during = len(pusher.acked) - len(acknowledged)
    finally:
        pusher.stop.set()
        pusher.join(30)
    assert during > 0, "the backup did not run under load"
    summary = json.loads(backup.stdout)
    assert summary["path"] == str(archive) and summary["schema_version"] > 0
    with tarfile.open(archive) as opened:
        names = set(opened.getnames())
    assert {"manifest.json", "aman.db", "config.override.yaml",
            "skills/kept/SKILL.md"} <= names

    # The daemon holds its dir: restore refuses and leaves it alone.
    refused = run("restore", str(archive), *where, "--yes")
    assert refused.returncode == 1 and "restore refuses while a daemon runs" in refused.stderr
    assert daemon.client.get("/health/ready").status_code == 200

    fresh = tmp_path / "fresh"
    restored = run("restore", str(archive), "--home", str(fresh), "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["previous_state"] is None
    second = start_daemon(home=fresh, extra_config=SCRIPTED)
    missing = [i for i in acknowledged
               if second.client.get(f"/events/dump/{i}").status_code != 200]
    assert missing == []
    verify = second.client.get("/audit-log/verify").json()
    assert verify["ok"] is True and verify["checked"] >= audit_before
    state = second.client.get(f"/chat/session/{session}/state").json()
    assert [m["content"] for m in state["messages"]] == ["remember me", "You said: remember me"]
    assert (fresh / "skills" / "kept" / "SKILL.md").read_text() == skill.read_text()
    keys = {k["key"]: k["value"] for k in second.client.get("/config/live-keys").json()["keys"]}
    assert keys["event_bus.max_queue_size"] == 4321
