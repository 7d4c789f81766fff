"""``aman doctor`` against real daemons: a world-readable config with a secret, a broken provider,
a healthy install (exit 0), --fix, and a stopped daemon."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import run
from tests.e2e.daemons import Daemon, StartDaemon, free_port
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

SCRIPTED = {"llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted"}}}}


def doctor(daemon: Daemon, *args: str) -> tuple[int, dict[str, Any]]:
    result = run("doctor", "--config", str(daemon.config_path), "--home", str(daemon.home),
                 "--bind", daemon.bind, "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["name"] == name]


def test_world_readable_config_with_a_secret_is_found_and_fixed(
        start_daemon: StartDaemon) -> None:
    daemon = start_daemon(token="doctor-token-5e1f", extra_config=SCRIPTED)
    daemon.config_path.chmod(0o644)  # planted: the token is in the file itself
    code, report = doctor(daemon)
    assert code == 1 and report["ok"] is False
    [bad] = [c for c in by_name(report, "permissions") if c["ok"] is False]
    assert str(daemon.config_path) in bad["detail"] and "http.token" in bad["detail"]
    assert bad["fix"].startswith(f"chmod 600 {daemon.config_path}")
    human = run("doctor", "--config", str(daemon.config_path), "--home", str(daemon.home),
                "--bind", daemon.bind)
    assert human.returncode == 1 and "FAIL  permissions" in human.stdout
    assert "fix: chmod 600" in human.stdout

    code, report = doctor(daemon, "--fix")
    assert stat.S_IMODE(daemon.config_path.stat().st_mode) == 0o600
    assert code == 0, [c for c in report["checks"] if c["ok"] is False]
    assert all(c["ok"] is not False for c in report["checks"])
    names = {c["name"] for c in report["checks"]}
    assert {"config", "permissions", "bind", "disk", "daemon", "clock", "llm", "database",
            "audit", "mcp"} <= names
    [mcp] = by_name(report, "mcp")
    assert mcp["ok"] is True and mcp["detail"] == "no MCP servers configured"


def test_broken_provider_is_named(start_daemon: StartDaemon) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    daemon = start_daemon(extra_config={"llm": {"default_provider": "s", "providers": {
        "s": {"kind": "scripted"},
        "remote": {"kind": "openai", "base_url": closed, "api_key": "${DOCTOR_KEY:-x}",
                   "model": "m", "max_retries": 0, "timeout_sec": 2}}}})
    code, report = doctor(daemon)
    assert code == 1
    llm = {c["detail"].split(" ")[0]: c for c in by_name(report, "llm")}
    assert llm["s"]["ok"] is True
    [broken] = [c for c in by_name(report, "llm") if c["ok"] is False]
    assert "'remote'" in broken["detail"] and broken["fix"]


def test_stopped_daemon_is_reported_and_its_database_checked(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(extra_config=SCRIPTED)
    assert daemon.stop() == 0
    code, report = doctor(daemon)
    assert code == 1
    [down] = by_name(report, "daemon")
    assert down["ok"] is False and daemon.bind in down["detail"]
    [database] = by_name(report, "database")
    assert database["ok"] is True and "integrity_check ok" in database["detail"]
    assert {c["ok"] for c in by_name(report, "llm")} == {None}


def test_invalid_config_fails_the_config_check(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("http:\n  bnd: x\n")
    result = run("doctor", "--config", str(config), "--home", str(tmp_path / "home"),
                 "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "FAIL  config" in result.stdout and "http.bnd" in result.stdout


def test_invalid_config_without_url_skips_the_daemon(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("http:\n  bnd: x\n")
    result = run("doctor", "--config", str(config), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [c["ok"] for c in by_name(report, "config")] == [False]
    assert [c["ok"] for c in by_name(report, "daemon")] == [None]


def test_channels_missing_their_secret_are_named(tmp_path: Path) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text("channels:\n  telegram:\n    nosecret: {}\n"
                      "  generic:\n    fine: {secret: '${DOCTOR_SECRET:-s3cret-value}'}\n")
    result = run("doctor", "--config", str(config), "--home", str(tmp_path / "home"),
                 "--url", f"http://127.0.0.1:{free_port()}", "--json")
    assert result.returncode == 1, result.stderr
    checks = {c["detail"].split(" ")[0].split(".secret")[0]: c
              for c in by_name(json.loads(result.stdout), "channel")}
    assert checks["channels.telegram.nosecret"]["ok"] is False
    assert checks["channels.generic.fine"]["ok"] is True


def test_a_missing_local_model_is_named(tmp_path: Path) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text("llm:\n  providers:\n    offline:\n      kind: local\n"
                      f"      model_path: {tmp_path / 'absent.gguf'}\n")
    result = run("doctor", "--config", str(config), "--home", str(tmp_path / "home"),
                 "--url", f"http://127.0.0.1:{free_port()}", "--json")
    [model] = by_name(json.loads(result.stdout), "local model")
    assert model["ok"] is False and "absent.gguf" in model["detail"]
    assert "aman[local]" in model["fix"]


def test_a_failed_mcp_server_is_named(start_daemon: StartDaemon, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-mcp-server")
    daemon = start_daemon(extra_config={**SCRIPTED, "mcp": {"servers": {
        "broken": {"command": missing}}}})
    wait_for_sync(lambda: daemon.client.get("/mcp/servers").json()["items"][0]["state"]
                  == "failed", 30, what="the broken MCP server to be failed")
    code, report = doctor(daemon)
    assert code == 1
    [server] = by_name(report, "mcp")
    assert server["ok"] is False and server["detail"].startswith("broken: failed")
    assert "mcp.servers" in server["fix"]
