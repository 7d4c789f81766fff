"""What the daemon benchmarks share: a free port, percentiles, starting a configured daemon, the
CPU time of processes over a window (from /proc), and a few PostgreSQL helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def launch(workdir: Path, config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m aman run`` with ``config`` and a home under ``workdir``, once it is ready."""
    port = free_port()
    path = workdir / "aman.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aman", "run", "--config", str(path), "--bind",
         f"127.0.0.1:{port}", "--home", str(workdir / "home")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items()  # bytecode cached, as for scripts/run
             if not k.startswith("AMAN_") and k != "PYTHONDONTWRITEBYTECODE"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{base}/health/ready").status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("daemon did not become ready")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a PostgreSQL server's backends and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far (all cores, from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


#: What the report prints of the server's configuration (``SHOW name``).
PG_SETTINGS = ("server_version", "shared_buffers", "synchronous_commit", "fsync", "wal_level",
               "wal_sync_method", "wal_buffers", "wal_writer_delay", "commit_delay",
               "full_page_writes", "max_wal_size", "max_connections")


def database_url(url: str, database: str) -> str:
    """``url`` naming ``database`` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


async def pg_run(url: str, sql: str) -> list[Any]:
    """Run one statement on ``url`` and return its rows."""
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def pg_settings(url: str) -> dict[str, str]:
    """The server settings the report records."""
    conn = await asyncpg.connect(url)
    try:
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in PG_SETTINGS}
    finally:
        await conn.close()


async def postmaster_of(url: str) -> int | None:
    """The server's main process when it runs on this machine (for its CPU time), else None."""
    rows = await pg_run(url, "SELECT pg_backend_pid() AS pid")
    try:
        stat = Path(f"/proc/{rows[0]['pid']}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


class CpuWindow:
    """CPU used by each group of processes between ``start`` and ``stop``, in % of one core."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._before: dict[str, dict[int, float]] = {}
        self._machine = (0.0, 0.0)
        self._started = 0.0

    @staticmethod
    def _sample(pids: list[int]) -> dict[int, float]:
        return {pid: cpu for pid in pids if (cpu := cpu_seconds(pid)) is not None}

    def start(self) -> None:
        """Take the first sample."""
        self._before = {name: self._sample(pids()) for name, pids in self._groups.items()}
        self._machine = machine_cpu()
        self._started = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """Per group, and ``machine`` (all cores summed), the CPU used since ``start``."""
        wall = time.perf_counter() - self._started
        busy, total = machine_cpu()
        used = {"machine": 100 * (busy - self._machine[0]) / wall}
        for name, pids in self._groups.items():
            before = self._before[name]
            after = self._sample(pids())
            used[name] = 100 * sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) / wall
        return used
