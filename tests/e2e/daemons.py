"""The real ``python -m aman run`` process on a free port, talked to over HTTP.

``launch_daemon(workdir, token=None, extra_config=None, ...)`` starts one daemon with its own
temp config and runtime dir, waits until ``/health/ready`` answers 200 and returns a ``Daemon``
(base_url, httpx client, Popen, home dir, log path). Only tests marked e2e start daemons: the
root ``tests/conftest.py`` refuses an unmarked test under tests/e2e, and fails any other test
that spawns one.
"""


from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import assert_daemon_allowed, wait_for_sync

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SEC = 15.0
STOP_TIMEOUT_SEC = 10.0
#: A token distinctive enough that finding it in a log or body cannot be a coincidence.
TEST_TOKEN = "e2e-secret-token-7f3c9a1b5d"


def free_port() -> int:
    """A TCP port nothing listens on right now (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any AMAN_* variable that could change the daemon's config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMAN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def aman_command(*args: str) -> list[str]:
    """``python -m aman <args>`` with the interpreter running the tests."""
    return [sys.executable, "-m", "aman", *args]


def run_aman(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run a short-lived ``python -m aman`` command to completion and capture its output."""
    return subprocess.run(
        aman_command(*args),
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


@dataclass
class Daemon:
    """One running ``aman run`` process."""

    base_url: str
    bind: str
    port: int
    home: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    client: httpx.Client
    token: str | None = None
    _log_file: Any = field(default=None, repr=False)

    @property
    def daemon_log_path(self) -> Path:
        """The daemon's own rotating log in its runtime dir."""
        return self.home / "logs" / "aman.log"

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate against this daemon (empty without a token)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def all_logs(self) -> str:
        """The stdout/stderr capture plus the daemon's log file(s) in the runtime dir."""
        parts = [self.output()]
        logs_dir = self.home / "logs"
        if logs_dir.is_dir():
            for path in sorted(logs_dir.glob("aman.log*")):
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def report(self) -> str:
        """A section for a failure report."""
        code = self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        return f"--- aman pid {self.process.pid} on {self.bind} ({state}), home {self.home}\n" + (
            self.output()
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_SEC) -> None:
        """Poll /health/ready until 200; fail with the log if the process dies or time runs out."""
        last = ["no answer yet"]

        def ready() -> bool:
            code = self.process.poll()
            if code is not None:
                pytest.fail(f"aman exited with code {code} before it was ready\n{self.output()}",
                            pytrace=False)
            try:
                response = self.client.get("/health/ready", timeout=1.0)
            except httpx.TransportError as exc:
                last[0] = f"{type(exc).__name__}: {exc}"
                return False
            last[0] = f"{response.status_code} {response.text}"
            return response.status_code == 200

        try:
            wait_for_sync(ready, timeout, what="/health/ready to answer 200")
        except AssertionError:
            pytest.fail(f"aman was not ready within {timeout:.0f}s (last: {last[0]})\n"
                        f"{self.output()}", pytrace=False)

    def wait_watching(self, folder: Path, timeout: float = READY_TIMEOUT_SEC) -> None:
        """Wait until the daemon logs that an OS watch covering ``folder`` is armed (a change
        made before that is not seen)."""
        def armed() -> bool:
            return any(str(folder) in line for line in self.all_logs().splitlines()
                       if "watch armed on" in line)

        wait_for_sync(armed, timeout, what=f"a watch armed on {folder}")

    def stop(self, timeout: float = STOP_TIMEOUT_SEC) -> int:
        """SIGTERM, wait, kill -9 if needed; return the exit code. Safe to call twice."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=timeout)
            return int(self.process.returncode)
        finally:
            self.client.close()
            if self._log_file is not None and not self._log_file.closed:
                self._log_file.close()


def launch_daemon(
    workdir: Path,
    *,
    token: str | None = None,
    extra_config: dict[str, Any] | None = None,
    home: Path | None = None,
    port: int | None = None,
    wait: bool = True,
) -> Daemon:
    """Start ``python -m aman run`` with a temp config under ``workdir``; wait until ready."""
    assert_daemon_allowed(f"aman run in {workdir}")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    bind = f"127.0.0.1:{port}"
    home = home or workdir / "home"
    config: dict[str, Any] = {"runtime": {"log_level": "INFO", "drain_timeout_sec": 5}}
    if token:
        config["http"] = {"token": token}
    _merge(config, extra_config or {})
    config_path = write_config(workdir / "aman.yaml", config)
    log_path = workdir / "daemon.out"
    log_file = log_path.open("wb")
    args = ["run", "--config", str(config_path), "--bind", bind, "--home", str(home)]
    process = subprocess.Popen(
        aman_command(*args),
        cwd=REPO_ROOT,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://{bind}"
    daemon = Daemon(
        base_url=base_url,
        bind=bind,
        port=port,
        home=home,
        config_path=config_path,
        log_path=log_path,
        process=process,
        client=httpx.Client(base_url=base_url, timeout=10.0),
        token=token,
        _log_file=log_file,
    )
    if wait:
        try:
            daemon.wait_ready()
        except BaseException:
            daemon.stop()
            raise
    return daemon


@contextlib.contextmanager
def daemon_context(workdir: Path, **kwargs: Any) -> Iterator[Daemon]:
    """A daemon for the duration of a ``with`` block."""
    daemon = launch_daemon(workdir, **kwargs)
    try:
        yield daemon
    finally:
        daemon.stop()


StartDaemon = Callable[..., Daemon]


def push_then_kill(daemon: Daemon, *, at_least: int, timeout: float) -> list[str]:
    """Push ``load`` events from four clients until ``at_least`` are accepted, then ``kill -9``
    the daemon mid-stream; return the ids it answered 202 (pushes cut off were never answered)."""
    accepted: list[str] = []
    stop = threading.Event()

    def pusher(worker: int) -> None:
        with httpx.Client(base_url=daemon.base_url, timeout=5) as client:
            n = 0
            while not stop.is_set():
                try:
                    response = client.post("/events/push", json={
                        "source": f"load:{worker}", "type": "load", "payload": {"n": n}})
                except httpx.TransportError:
                    return  # the daemon died mid-request: that push was never answered
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                n += 1

    threads = [threading.Thread(target=pusher, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    wait_for_sync(lambda: len(accepted) >= at_least, timeout,
                  what=f"{at_least} accepted pushes")
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    return list(accepted)
