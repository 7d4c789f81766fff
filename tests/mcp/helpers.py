"""MCP test helpers: real servers (the PyPI time and git servers, an SDK HTTP server in its own
process) and a look at which processes still run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aman.core.runtime import Runtime
from tests.helpers import wait_for, wait_for_sync

REPO_ROOT = Path(__file__).resolve().parents[2]


def time_server(**extra: Any) -> dict[str, Any]:
    """mcp-server-time over stdio, answering in UTC."""
    return {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone",
                                                "UTC"], **extra}


def marked(server: dict[str, Any], mark: str) -> dict[str, Any]:
    """``server`` with an env marker, so its processes can be found in /proc."""
    return {**server, "env": {**server.get("env", {}), "AMAN_TEST_MARK": mark}}


def processes_with(mark: str) -> list[int]:
    """Pids of live processes whose environment holds ``AMAN_TEST_MARK=<mark>``."""
    needle = f"AMAN_TEST_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def new_mark() -> str:
    """A marker unique to one test."""
    return uuid.uuid4().hex


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpServer:
    """The SDK-built HTTP MCP server of ``tests/mcp/servers/http_server.py`` in its own process."""

    port: int
    process: subprocess.Popen[bytes] | None = None
    sse: bool = False

    @property
    def url(self) -> str:
        """Its MCP endpoint."""
        return f"http://127.0.0.1:{self.port}/{'sse' if self.sse else 'mcp'}"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.mcp.servers.http_server", str(self.port),
             *(["sse"] if self.sse else [])],
            cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wait_for_sync(self._accepting, 30, what="the test HTTP MCP server to accept connections")

    def _accepting(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            "the test HTTP MCP server exited")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """Kill it hard."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


ServedApp = Callable[..., Any]


async def wait_state(runtime: Runtime, name: str, state: str, timeout: float = 60) -> None:
    """Wait until server ``name`` is in ``state``."""
    await wait_for(lambda: runtime.mcp.states().get(name) == state, timeout,
                   what=f"MCP server {name} to be {state}")
