"""What the daemon benchmarks share: a free port, percentiles, and starting a configured daemon."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
