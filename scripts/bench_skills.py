#!/usr/bin/env python3
"""Skills benchmark: boot to ready with N generated skills, and hot-reload latency.

Usage: .venv/bin/python scripts/bench_skills.py [--skills 500] [--boots 3] [--reloads 10]
Boot: process start → GET /health/ready 200 with ``--skills`` skills (half SKILL.md, half YAML
event skills) in a fresh runtime dir, median of ``--boots``. Reload: one SKILL.md written (new or
edited) → its new version visible in GET /skills, median of ``--reloads``, on the same daemon.
Targets: boot under 2 s, reload under 1 s on the 2-core dev machine.
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
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generate(folder: Path, count: int) -> None:
    """``count`` skills: even ones SKILL.md in groups of 50, odd ones YAML event skills."""
    for index in range(count):
        group = folder / f"group{index // 50:02d}"
        if index % 2 == 0:
            path = group / f"skill-{index:04d}" / "SKILL.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                f"---\nname: skill-{index:04d}\ndescription: Generated skill number {index}\n"
                f"version: 1.0.0\ntags: [bench, g{index % 7}]\ntriggers: [\"bench {index}\"]\n"
                f"---\n# Steps\n1. Do thing {index}.\n2. Report.\n", encoding="utf-8")
        else:
            group.mkdir(parents=True, exist_ok=True)
            (group / f"event-{index:04d}.yaml").write_text(
                f"name: event-{index:04d}\nversion: 1.0.0\ndescription: Generated event skill\n"
                f"triggers:\n  - event_types: [bench_{index}]\nactions:\n"
                f"  - emit: {{event_type: bench_done, payload: {{n: {index}}}}}\n",
                encoding="utf-8")


def launch(workdir: Path, skills: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start a daemon serving ``skills``; return it, its URL and seconds until ready."""
    port = free_port()
    config = workdir / "aman.yaml"
    config.write_text(yaml.safe_dump({"skills": {"dirs": [str(skills)]}}), encoding="utf-8")
    home = workdir / f"home-{port}"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aman", "run", "--config", str(config), "--bind",
         f"127.0.0.1:{port}", "--home", str(home)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("AMAN_")},
    )
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=1.0) as client:
        while True:
            try:
                if client.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError("daemon did not become ready")
            time.sleep(0.005)
    return proc, base, time.perf_counter() - started


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the daemon with SIGTERM and wait for it."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


def reload_latency(base: str, skills: Path, runs: int) -> list[float]:
    """Seconds from each edit of a skill file until /skills shows the new version."""
    results = []
    path = skills / "live" / "SKILL.md"
    path.parent.mkdir(exist_ok=True)
    with httpx.Client(base_url=base, timeout=5.0) as client:
        for run in range(runs):
            version = f"2.0.{run}"
            started = time.perf_counter()
            path.write_text(f"---\nname: live\ndescription: Live edit\nversion: {version}\n---\n"
                            f"Edit {run}\n", encoding="utf-8")
            while True:
                items = client.get("/skills").json()["items"]
                if any(i["name"] == "live" and i["version"] == version for i in items):
                    break
                if time.perf_counter() - started > 10:
                    raise RuntimeError("edit not picked up within 10 s")
                time.sleep(0.01)
            results.append(time.perf_counter() - started)
            time.sleep(0.4)  # let the debounce window close before the next edit
    return results


def main() -> int:
    """Run the boot and reload benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skills", type=int, default=500)
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        skills = workdir / "skills"
        generate(skills, args.skills)
        boots = []
        for _ in range(args.boots):
            proc, _, ready = launch(workdir, skills)
            boots.append(ready)
            stop(proc)
        proc, base, _ = launch(workdir, skills)
        try:
            with httpx.Client(base_url=base, timeout=5.0) as client:
                listed = len(client.get("/skills").json()["items"])
            reloads = reload_latency(base, skills, args.reloads)
        finally:
            stop(proc)
    print(f"skills: {args.skills} (listed: {listed})")
    print("boot_sec: " + ", ".join(f"{b:.3f}" for b in boots))
    print("reload_sec: " + ", ".join(f"{r:.3f}" for r in reloads))
    print(f"median boot to ready: {statistics.median(boots):.3f} s (target < 2 s)")
    print(f"median reload (write -> listed): {statistics.median(reloads):.3f} s (target < 1 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
