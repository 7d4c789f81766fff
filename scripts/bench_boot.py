#!/usr/bin/env python3
"""Boot benchmark: process start → GET /health/ready 200, and idle RSS; median of N runs.

Usage: .venv/bin/python scripts/bench_boot.py [--runs 5]
Targets: ready in under 1 s, idle RSS under 60 MB on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def daemon_env() -> dict[str, str]:
    """This environment without AMAN_* settings and without PYTHONDONTWRITEBYTECODE: a daemon
    started by ``scripts/run`` loads cached bytecode, so the benchmark measures that."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("AMAN_") and k != "PYTHONDONTWRITEBYTECODE"}


def one_run(idle_sec: float) -> tuple[float, float]:
    """Boot one daemon: seconds until /health/ready, then RSS after ``idle_sec`` idle."""
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        url = f"http://127.0.0.1:{port}/health/ready"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "aman", "run", "--bind", f"127.0.0.1:{port}", "--home", home],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=daemon_env(),
        )
        try:
            with httpx.Client(timeout=1.0) as client:
                while True:
                    try:
                        if client.get(url).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("daemon did not become ready within 30 s")
                    time.sleep(0.005)
            ready_sec = time.perf_counter() - started
            time.sleep(idle_sec)
            rss = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    return ready_sec, rss


def main() -> int:
    """Run the boots and print the medians against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading RSS")
    args = parser.parse_args()
    one_run(0.0)  # warm-up, not counted: writes the bytecode cache a real install has
    results = [one_run(args.idle) for _ in range(args.runs)]
    ready = [r for r, _ in results]
    rss = [m for _, m in results]
    print(f"runs: {args.runs}")
    print("ready_sec: " + ", ".join(f"{r:.3f}" for r in ready))
    print("idle_rss_mb: " + ", ".join(f"{m:.1f}" for m in rss))
    print(f"median ready: {statistics.median(ready):.3f} s (target < 1 s)")
    print(f"median idle RSS: {statistics.median(rss):.1f} MB (target < 60 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
