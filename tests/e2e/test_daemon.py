"""The real ``aman run`` process over real HTTP: boot, auth, confirmation, errors, exits."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aman import __version__
from tests.e2e.daemons import (
    TEST_TOKEN,
    Daemon,
    StartDaemon,
    aman_command,
    clean_env,
    free_port,
    run_aman,
    write_config,
)

pytestmark = pytest.mark.e2e

PUBLIC_ROUTES = ["/health/live", "/health/ready", "/health", "/health/llm", "/metrics"]
PROTECTED_ROUTES = [
    ("GET", "/runtime/status"),
    ("GET", "/runtime/config"),
    ("GET", "/audit-log"),
    ("GET", "/debug/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/agent/start"),
]
ERROR_FIELDS = {"code", "message", "hint", "request_id"}


def assert_error(
    response: httpx.Response, status: int, code: str, *, extra_keys: set[str] | None = None
) -> dict[str, Any]:
    """The one error shape: JSON ``{"error": {code, message, hint, request_id[, details]}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "<html" not in response.text.lower()
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error", *(extra_keys or set())}, body
    error = body["error"]
    assert ERROR_FIELDS <= set(error) <= ERROR_FIELDS | {"details"}, error
    assert error["code"] == code, error
    for key in ("message", "hint", "request_id"):
        assert isinstance(error[key], str) and error[key], (key, error)
    assert response.headers.get("x-request-id") == error["request_id"]
    return error


def audit_items(daemon: Daemon, **params: Any) -> list[dict[str, Any]]:
    """One page (up to 1000) of the audit log, newest first."""
    response = daemon.client.get(
        "/audit-log", params={"limit": 1000, **params}, headers=daemon.auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None, "more than 1000 records; the test expects fewer"
    return list(body["items"])


def raw_request(
    daemon: Daemon, raw_headers: str, method: str = "POST", path: str = "/"
) -> tuple[int, str]:
    """Send one HTTP/1.1 request byte for byte (httpx refuses header values with spaces around)."""
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {daemon.bind}\r\nContent-Length: 0\r\n"
        f"Connection: close\r\n{raw_headers}\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode(errors="replace")


def nothing_listens_on(port: int) -> bool:
    """Whether a TCP connect to 127.0.0.1:port is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


# --- 1. boot to ready --------------------------------------------------------------------------


def test_boot_reaches_phase_5_and_reports_it(daemon: Daemon) -> None:
    live = daemon.client.get("/health/live")
    assert live.status_code == 200
    assert live.json()["status"] == "alive"
    assert live.json()["phase"] == 5

    ready = daemon.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "phase": 5, "phase_name": "ready", "state": "ready"}

    status = daemon.client.get("/runtime/status")
    assert status.status_code == 200
    body = status.json()
    assert body["phase"] == 5
    assert body["phase_name"] == "ready"
    assert body["state"] == "ready"
    assert body["ready"] is True and body["live"] is True
    assert body["failure"] is None
    assert body["version"] == __version__
    assert isinstance(body["uptime_sec"], (int, float)) and body["uptime_sec"] >= 0
    phases = body["phases"]
    assert [p["phase"] for p in phases] == [0, 1, 2, 3, 4, 5]
    assert [p["name"] for p in phases] == [
        "alive", "configured", "storage", "core", "components", "ready",
    ]
    for record in phases:
        assert record["status"] == "done", record
        assert record["duration_ms"] is not None and record["duration_ms"] >= 0
        assert all(step["status"] == "done" for step in record["steps"]), record


def test_runtime_config_without_token(daemon: Daemon) -> None:
    response = daemon.client.get("/runtime/config")
    assert response.status_code == 200
    config = response.json()
    assert config["bind"] == daemon.bind
    assert config["runtime_dir"] == str(daemon.home.resolve())
    assert config["database"] == str(daemon.home.resolve() / "aman.db")
    assert config["token_configured"] is False
    assert config["debug_endpoints_enabled"] is False
    assert (daemon.home / "aman.db").is_file()
    assert (daemon.home / "aman.lock").is_file()


def test_runtime_config_with_token_says_only_that_one_is_set(token_daemon: Daemon) -> None:
    response = token_daemon.client.get("/runtime/config", headers=token_daemon.auth)
    assert response.status_code == 200
    config = response.json()
    assert config["bind"] == token_daemon.bind
    assert config["runtime_dir"] == str(token_daemon.home.resolve())
    assert config["token_configured"] is True
    assert TEST_TOKEN not in response.text


# --- 2. auth matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_ROUTES)
def test_public_route_needs_no_token(token_daemon: Daemon, path: str) -> None:
    anonymous = token_daemon.client.get(path)
    assert anonymous.status_code != 401, anonymous.text
    wrong = token_daemon.client.get(path, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == anonymous.status_code


@pytest.mark.parametrize(("method", "path"), PROTECTED_ROUTES)
def test_protected_route_needs_the_token(token_daemon: Daemon, method: str, path: str) -> None:
    client = token_daemon.client

    missing = client.request(method, path)
    assert_error(missing, 401, "unauthorized")
    assert missing.headers.get("www-authenticate", "").lower().startswith("bearer")

    for wrong in (
        {"Authorization": "Bearer not-the-token"},
        {"x-aman-token": "not-the-token"},
        {"Authorization": f"Basic {TEST_TOKEN}"},
        {"Authorization": f"Bearer {TEST_TOKEN}x"},
    ):
        assert_error(client.request(method, path, headers=wrong), 401, "unauthorized")

    bearer = client.request(method, path, headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert bearer.status_code == 200, bearer.text
    header = client.request(method, path, headers={"x-aman-token": TEST_TOKEN})
    assert header.status_code == 200, header.text


def test_unknown_path_is_401_without_token_and_404_with_it(token_daemon: Daemon) -> None:
    client = token_daemon.client
    hidden = client.get("/no/such/route")
    error = assert_error(hidden, 401, "unauthorized")
    assert "/no/such/route" not in error["message"]

    found = client.get("/no/such/route", headers=token_daemon.auth)
    error = assert_error(found, 404, "not_found")
    assert "/no/such/route" in error["message"]


def test_refused_request_is_in_the_audit_log(token_daemon: Daemon) -> None:
    operator = f"mallory-{uuid.uuid4().hex[:8]}"
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    refused = token_daemon.client.get(
        "/runtime/status",
        headers={"x-aman-operator": operator, "x-request-id": request_id,
                 "Authorization": "Bearer wrong"},
    )
    assert_error(refused, 401, "unauthorized")
    assert refused.headers["x-request-id"] == request_id

    items = audit_items(token_daemon, operator=operator)
    assert len(items) == 1, items
    record = items[0]
    assert record["outcome"] == "unauthorized"
    assert record["operator"] == operator
    assert record["request_id"] == request_id
    assert record["detail"]["status"] == 401
    assert record["detail"]["path"] == "/runtime/status"
    assert record["detail"]["method"] == "GET"
    assert record["detail"]["error_code"] == "unauthorized"
    by_outcome = audit_items(token_daemon, outcome="unauthorized")
    assert record["id"] in {item["id"] for item in by_outcome}


def test_token_is_never_served_or_logged(token_daemon: Daemon) -> None:
    client = token_daemon.client
    # Make sure the daemon has seen the token on the wire in several ways first.
    client.get("/runtime/status", headers={"x-aman-token": TEST_TOKEN})
    client.get("/no/such/route", headers=token_daemon.auth)
    client.post("/agent/start", headers=token_daemon.auth)
    client.get("/runtime/status", headers={"Authorization": f"Bearer {TEST_TOKEN}-wrong"})

    for path in ("/runtime/status", "/runtime/config", "/debug/metrics", "/openapi.json",
                 "/audit-log?limit=1000", "/metrics", "/health", "/health/live"):
        response = client.get(path, headers=token_daemon.auth)
        assert response.status_code == 200, (path, response.text)
        assert TEST_TOKEN not in response.text, path
    assert token_daemon.daemon_log_path.is_file()
    logs = token_daemon.all_logs()
    assert "serving on" in logs
    assert TEST_TOKEN not in logs


# --- 3. confirmation matrix, shutdown and start again ------------------------------------------


def test_shutdown_needs_confirmation_then_start_brings_it_back(start_daemon: StartDaemon) -> None:
    d = start_daemon()
    client = d.client
    alice = {"x-aman-operator": "alice"}

    for confirm in (None, "", "no", "y", "yes please"):
        headers = dict(alice)
        if confirm is not None:
            headers["x-aman-confirm"] = confirm
        refused = client.post("/agent/shutdown", headers=headers)
        assert_error(refused, 409, "confirmation_required")
        assert client.get("/health/ready").status_code == 200, f"changed state with {confirm!r}"

    refusals = audit_items(d, action="agent.shutdown")
    assert len(refusals) == 5
    assert {r["outcome"] for r in refusals} == {"confirmation_required"}
    assert {r["operator"] for r in refusals} == {"alice"}
    assert {r["target"] for r in refusals} == {"runtime"}

    # Spaces around the value and capitals: the confirmation is trimmed and case-insensitive.
    status, text = raw_request(
        d, "x-aman-operator: alice\r\nx-aman-confirm:  YES \r\nx-request-id: e2e-stop-1\r\n",
        path="/agent/shutdown",
    )
    assert status == 200, text
    stopped = json.loads(text)
    assert stopped["stopped"] is True
    assert stopped["state"] == "stopped"
    assert stopped["ready"] is False

    for path in ("/health/ready", "/health"):
        not_ready = client.get(path)
        assert_error(not_ready, 503, "not_ready",
                     extra_keys={"phase", "phase_name", "state", "failure"})
        assert not_ready.json()["phase"] == 0
        assert not_ready.json()["state"] == "stopped"
    assert client.get("/health/live").status_code == 200
    assert client.get("/runtime/status").json()["state"] == "stopped"

    unavailable = client.get("/audit-log")
    assert_error(unavailable, 503, "not_ready")
    assert int(unavailable.headers["retry-after"]) >= 1

    started = client.post("/agent/start", headers=alice)
    assert started.status_code == 200, started.text
    assert started.json()["started"] is True
    assert started.json()["phase"] == 5
    assert started.json()["boot_count"] == 2
    assert client.get("/health/ready").status_code == 200

    again = client.post("/agent/start", headers=alice)
    assert again.status_code == 200
    assert again.json()["started"] is False

    shutdowns = audit_items(d, action="agent.shutdown")
    assert len(shutdowns) == 6
    done = shutdowns[0]
    assert done["outcome"] == "ok"
    assert done["operator"] == "alice"
    assert done["detail"]["from_state"] == "ready"
    assert done["request_id"] == "e2e-stop-1"

    starts = audit_items(d, action="agent.start")
    assert [(s["outcome"], s["operator"], s["detail"]["already_running"]) for s in starts] == [
        ("ok", "alice", True),
        ("ok", "alice", False),
    ]

    verify = client.get("/audit-log/verify")
    assert verify.status_code == 200
    report = verify.json()
    assert report["ok"] is True, report
    assert report["first_broken"] is None
    assert report["checked"] >= 8


# --- 4. error shape on bad input ---------------------------------------------------------------


def test_unknown_route_is_404_json(daemon: Daemon) -> None:
    error = assert_error(daemon.client.get("/no/such/route"), 404, "not_found")
    assert "/no/such/route" in error["message"]
    assert_error(daemon.client.post("/no/such/route", json={"a": 1}), 404, "not_found")


def test_wrong_method_is_405_with_allow(daemon: Daemon) -> None:
    response = daemon.client.delete("/health")
    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in allowed and "DELETE" not in allowed


def test_client_request_id_is_echoed(daemon: Daemon) -> None:
    response = daemon.client.get("/no/such/route", headers={"x-request-id": "e2e-req-42"})
    assert assert_error(response, 404, "not_found")["request_id"] == "e2e-req-42"
    bogus = daemon.client.get("/no/such/route", headers={"x-request-id": "bad id <script>"})
    assert assert_error(bogus, 404, "not_found")["request_id"] != "bad id <script>"


def test_body_over_max_body_bytes_is_413(start_daemon: StartDaemon) -> None:
    d = start_daemon(extra_config={"http": {"max_body_bytes": 2048}})
    response = d.client.post(
        "/agent/start", content=b'{"x": "' + b"a" * 10_240 + b'"}',
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 413, "payload_too_large")
    assert "2048" in error["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted while read
        for _ in range(10):
            yield b"a" * 1024

    chunked = d.client.post("/agent/start", content=chunks())
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 413, "payload_too_large")

    small = d.client.post("/agent/start", json={})
    assert small.status_code == 200, small.text


def test_bad_body_is_400_naming_the_field_and_changes_nothing(start_daemon: StartDaemon) -> None:
    d = start_daemon()
    confirmed = {"x-aman-confirm": "yes", "content-type": "application/json"}
    cases = [
        (b'{"reason": ', "invalid_json", "line 1"),
        (b"[1, 2]", "validation_error", "JSON object"),
        (b'{"reason": 5}', "validation_error", "body.reason"),
        (b'{"bogus": 1}', "validation_error", "body.bogus"),
        (b'{"reason": "' + b"r" * 501 + b'"}', "validation_error", "body.reason"),
    ]
    for raw, code, fragment in cases:
        response = d.client.post("/agent/shutdown", content=raw, headers=confirmed)
        error = assert_error(response, 400, code)
        assert fragment in error["message"], (raw, error)
        assert d.client.get("/health/ready").status_code == 200, f"{raw!r} stopped the runtime"

    stopped = d.client.post("/agent/shutdown", json={"reason": "e2e"}, headers=confirmed)
    assert stopped.status_code == 200, stopped.text
    assert d.client.get("/health/ready").status_code == 503
    assert d.client.post("/agent/start").status_code == 200
    [done] = [r for r in audit_items(d, action="agent.shutdown") if r["outcome"] == "ok"]
    assert done["detail"]["reason"] == "e2e"


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("limit=0", "validation_error", "query.limit"),
        ("limit=1001", "validation_error", "query.limit"),
        ("limit=abc", "validation_error", "query.limit"),
        ("bogus=1", "validation_error", "query.bogus"),
        ("since=yesterday", "validation_error", "query.since"),
        ("cursor=garbage", "invalid_cursor", None),
        ("cursor=eyJmb28iOjF9", "invalid_cursor", None),  # valid base64 JSON, wrong keys
    ],
)
def test_bad_query_is_400_naming_the_field(
    daemon: Daemon, query: str, code: str, field: str | None
) -> None:
    error = assert_error(daemon.client.get(f"/audit-log?{query}"), 400, code)
    if field is not None:
        assert field in error["message"], error
        assert field in [f["path"] for f in error["details"]["fields"]], error


# --- 5. SIGTERM --------------------------------------------------------------------------------


def test_sigterm_exits_0_and_state_survives_a_restart(start_daemon: StartDaemon) -> None:
    first = start_daemon()
    assert first.client.post("/agent/start", headers={"x-aman-operator": "bob"}).status_code == 200

    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=10) == 0
    output = first.output()
    assert "received SIGTERM" in output
    assert "runtime stopped" in output
    assert "aman stopped" in output
    assert "aman stopped" in first.daemon_log_path.read_text(encoding="utf-8")
    assert "Traceback" not in output

    # The lock went with the process: a new daemon on the same home boots and sees the history.
    second = start_daemon(home=first.home)
    starts = audit_items(second, action="agent.start", operator="bob")
    assert len(starts) == 1
    verify = second.client.get("/audit-log/verify").json()
    assert verify["ok"] is True and verify["checked"] >= 1


# --- 6. one daemon per runtime dir -------------------------------------------------------------


def test_second_daemon_on_the_same_home_exits_1_naming_the_holder(daemon: Daemon) -> None:
    port = free_port()
    started = time.monotonic()
    result = run_aman(
        "run", "--config", str(daemon.config_path), "--bind", f"127.0.0.1:{port}",
        "--home", str(daemon.home), timeout=15,
    )
    assert result.returncode == 1, result
    assert time.monotonic() - started < 10
    assert f"pid {daemon.process.pid}" in result.stderr, result.stderr
    assert nothing_listens_on(port)
    # The first daemon is untouched and still owns the dir.
    assert daemon.client.get("/health/ready").status_code == 200
    assert (daemon.home / "aman.lock").read_text().strip() == str(daemon.process.pid)


# --- 7. invalid configuration exits 2 before binding -------------------------------------------

UNSET_VAR = "AMAN_E2E_SURELY_UNSET_VARIABLE"


@pytest.mark.parametrize(
    ("config", "host", "expected"),
    [
        pytest.param({"http": {"bnd": "x"}}, "127.0.0.1", ["http.bnd", "bind"], id="unknown-key"),
        pytest.param(
            {"runtime": {"drain_timeout_sec": -1}}, "127.0.0.1",
            ["runtime.drain_timeout_sec", "-1", "greater than 0"], id="negative-drain",
        ),
        pytest.param({}, "0.0.0.0", ["http.bind", "0.0.0.0", "http.token"],
                     id="non-loopback-without-token"),
        pytest.param(
            {"http": {"token": "${" + UNSET_VAR + "}"}}, "127.0.0.1",
            ["http.token", UNSET_VAR], id="unset-placeholder",
        ),
    ],
)
def test_invalid_config_exits_2_before_binding(
    tmp_path: Path, config: dict[str, Any], host: str, expected: list[str]
) -> None:
    config_path = write_config(tmp_path / "bad.yaml", config)
    home = tmp_path / "home"
    port = free_port()
    process = subprocess.Popen(
        aman_command("run", "--config", str(config_path), "--bind", f"{host}:{port}",
                     "--home", str(home)),
        env=clean_env(),  # drops every AMAN_* variable, so UNSET_VAR is surely unset
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, (stdout, stderr)
    for fragment in expected:
        assert fragment in stderr, (fragment, stderr)
    assert "Traceback" not in stderr
    assert "serving on" not in stdout + stderr and "Running on" not in stdout + stderr
    assert nothing_listens_on(port)
    assert not (home / "aman.lock").exists()
    assert not (home / "aman.db").exists()


# --- 8. aman status ----------------------------------------------------------------------------


def test_status_command_against_a_running_daemon(daemon: Daemon) -> None:
    result = run_aman("status", "--bind", daemon.bind, "--home", str(daemon.home))
    assert result.returncode == 0, result
    assert "phase 5" in result.stdout
    assert "ready: yes" in result.stdout


def test_status_command_with_nothing_listening(tmp_path: Path) -> None:
    port = free_port()
    result = run_aman("status", "--bind", f"127.0.0.1:{port}", "--home", str(tmp_path))
    assert result.returncode == 1, result
    assert f"127.0.0.1:{port}" in result.stderr


# --- 9. audit pagination -----------------------------------------------------------------------


def test_audit_log_pages_with_cursor_until_the_end(daemon: Daemon) -> None:
    operator = f"pager-{uuid.uuid4().hex[:8]}"
    for _ in range(7):
        refused = daemon.client.post("/agent/shutdown", headers={"x-aman-operator": operator})
        assert refused.status_code == 409

    mine = audit_items(daemon, action="agent.shutdown", operator=operator)
    assert len(mine) == 7
    everything = audit_items(daemon, action="agent.shutdown")

    seen: list[int] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"action": "agent.shutdown", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = daemon.client.get("/audit-log", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert 1 <= len(page["items"]) <= 2
        assert all(item["action"] == "agent.shutdown" for item in page["items"])
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        assert pages <= 100, "pagination does not end"
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
    assert all(a > b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert len(seen) == len(set(seen))
    assert len(seen) == len(everything) >= 7
    assert seen == [item["id"] for item in everything]
    assert {item["id"] for item in mine} <= set(seen)
    assert pages == (len(everything) + 1) // 2


# --- 10. metrics -------------------------------------------------------------------------------


def test_metrics_are_prometheus_text(daemon: Daemon) -> None:
    assert daemon.client.get("/health/ready").status_code == 200
    response = daemon.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "aman_boot_phase 5.0" in text.splitlines()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    ready_hits = [
        value
        for (name, labels), value in samples.items()
        if name == "aman_http_requests_total"
        and dict(labels).get("route") == "/health/ready"
        and dict(labels).get("method") == "GET"
        and dict(labels).get("status") == "200"
    ]
    assert ready_hits and ready_hits[0] >= 1
    rss = [v for (name, _), v in samples.items() if name == "process_resident_memory_bytes"]
    assert rss and rss[0] > 0
    assert any(name == "aman_http_request_duration_seconds_bucket" for name, _ in samples)
