#!/usr/bin/env python3
"""Tools benchmark: tool-call overhead, and the approval round trip through SSE and HTTP.

Usage: .venv/bin/python scripts/bench_tools.py [--calls 300] [--approvals 30]

One real daemon (``python -m aman run``) with the ``scripted`` provider.
Overhead: ``POST /tools/read/execute`` of a 1 KB file in the workspace, ``--calls`` times; the
registry's own ``duration_ms`` (validate, guard, dispatch facts, run, result) and the whole HTTP
round trip as the client sees it.
Approval round trip: ``--approvals`` chat messages, each in a new session, whose scripted reply
asks for the medium tool ``write``; an SSE client on ``/events/stream`` answers each
``tool_auth_required`` with ``POST /tool-auth/respond`` at once and times until that call's
``tool:dispatched`` arrives (event out on SSE → respond → tool running).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib
import httpx
from benchlib import percentile

TOKEN = "bench-tools-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
WRITE_CALL = json.dumps({"tool_calls": [{"name": "write", "arguments": {
    "path": "bench/out.txt", "content": "benchmark"}}]})


def launch(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start a daemon with a workspace and a provider scripted to call ``write``."""
    workspace = workdir / "workspace"
    workspace.mkdir()
    (workspace / "small.txt").write_text("x" * 1024, encoding="utf-8")
    proc, base = benchlib.launch(workdir, {
        "http": {"token": TOKEN},
        "runtime": {"log_level": "WARNING"},
        "event_bus": {"rate_limit_per_sec": 100000, "rate_limit_burst": 100000},
        "tools": {"workspace_dir": str(workspace)},
        "llm": {"default_provider": "bench", "providers": {"bench": {
            "kind": "scripted", "replies": [WRITE_CALL, "Done."]}}},
        "agents": {"aman": {"display_name": "Aman"}},
    })
    return proc, base, workspace


async def overhead(base: str, calls: int) -> tuple[list[float], list[float]]:
    """Time inside the tool and the HTTP round trip (ms) of ``calls`` reads."""
    inside, round_trip = [], []
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as client:
        for _ in range(calls):
            started = time.perf_counter()
            response = await client.post(f"{base}/tools/read/execute", json={"path": "small.txt"})
            round_trip.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            inside.append(float(response.json()["duration_ms"]))
    return inside[10:], round_trip[10:]  # the first calls build the parameter model


async def approvals(base: str, count: int) -> list[float]:
    """Milliseconds from each approval prompt to the approved call's dispatch."""
    asked: dict[str, float] = {}  # call_id → when the prompt was parsed
    rounds: list[float] = []
    done = asyncio.Event()

    async def watch(client: httpx.AsyncClient) -> None:
        url = f"{base}/events/stream?types=tool_auth_required,tool:dispatched"
        async with client.stream("GET", url, timeout=None) as response:
            ready.set()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                payload = event.get("payload") or {}
                if "event_type" not in event:  # runtime and metrics snapshots
                    continue
                if event["event_type"] == "tool_auth_required":
                    asked[payload["call_id"]] = time.perf_counter()
                    answer = await client.post(f"{base}/tool-auth/respond", json={
                        "auth_id": payload["auth_id"], "approved": True})
                    answer.raise_for_status()
                elif payload.get("call_id") in asked:
                    rounds.append((time.perf_counter() - asked.pop(payload["call_id"])) * 1000)
                    if len(rounds) >= count:
                        done.set()

    ready = asyncio.Event()
    async with httpx.AsyncClient(headers=HEADERS, timeout=60) as client:
        watcher = asyncio.create_task(watch(client))
        await ready.wait()
        for _ in range(count):
            session = (await client.post(f"{base}/chat/session/create", json={})).json()["id"]
            sent = await client.post(f"{base}/chat/session/{session}/send",
                                     json={"text": "write it", "wait": True})
            sent.raise_for_status()
        await asyncio.wait_for(done.wait(), timeout=30)
        watcher.cancel()
    return rounds


def line(label: str, values: list[float]) -> str:
    """One line of percentiles for ``values`` (ms)."""
    return (f"{label}: n={len(values)} p50 {percentile(values, 0.5):.2f} ms, "
            f"p99 {percentile(values, 0.99):.2f} ms (mean {statistics.fmean(values):.2f})")


async def main() -> None:
    """Run the tool benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--approvals", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aman-bench-tools-") as tmp:
        proc, base, _ = launch(Path(tmp))
        try:
            inside, outside = await overhead(base, args.calls)
            print(line("read of 1 KB, dispatch to result (registry)", inside))
            print(line("read of 1 KB, HTTP round trip", outside))
            print(line("approval round trip (prompt on SSE → respond → tool running)",
                       await approvals(base, args.approvals)))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
