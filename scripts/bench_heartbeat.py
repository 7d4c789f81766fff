#!/usr/bin/env python3
"""Heartbeat and usage benchmark: what a skipped tick costs, and what recording usage adds.

Usage: .venv/bin/python scripts/bench_heartbeat.py [--ticks 500] [--turns 200]

In this process, on a real runtime (SQLite in a temporary dir, the scripted provider):
- a heartbeat tick whose checklist is empty: time per tick (read the file, decide, store and
  announce the run) and the number of model calls it made (must be 0);
- chat turns with usage recording on and off, interleaved in the same run: the median turn time
  of each and the difference, and the in-process cost of one ``UsageService.record``.
Targets: a skipped tick under 5 ms with no model call; usage recording adds under 1 ms a turn.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aman.config.loader import load_settings
from aman.core.runtime import Runtime
from aman.llm.registry import CallRecord


async def run(ticks: int, turns: int) -> None:
    """Boot a runtime, time the skipped ticks, then the turns with and without recording."""
    with tempfile.TemporaryDirectory() as tmp:
        home, workspace = Path(tmp, "home"), Path(tmp, "workspace")
        workspace.mkdir()
        (workspace / "HEARTBEAT.md").write_text("# Checklist\n<!-- nothing to do -->\n")
        settings = load_settings(env={}, overrides={
            "runtime.dir": str(home), "tools.workspace_dir": str(workspace),
            "llm.default_provider": "s",
            "llm.providers": {"s": {"kind": "scripted", "replies": ["A short reply."]}},
            "agents": {"aman": {"heartbeat": {"every": "30m"}}}})
        runtime = Runtime(settings)
        await runtime.start()
        try:
            await runtime.heartbeat.tick("aman")  # warm-up
            started = time.perf_counter()
            for _ in range(ticks):
                found = await runtime.heartbeat.tick("aman")
                assert found is not None and found.reason == "empty_file"
            per_tick_ms = (time.perf_counter() - started) / ticks * 1000
            calls = runtime.usage.spent_today("aman")["all"]

            session = await runtime.chat.create(agent_id="aman", session_type="persistent",
                                                title="bench", operator="bench")
            record = runtime.llm.on_call
            timings: dict[bool, list[float]] = {True: [], False: []}
            for i in range(turns * 2 + 20):  # 20 warm-up turns first
                recording = i % 4 in (0, 3)  # ABBA: position effects cancel
                runtime.llm.on_call = record if recording else None
                began = time.perf_counter()
                receipt = await runtime.chat.send(session["id"], f"message {i}",
                                                  expected_version=None, operator="bench")
                reply = await receipt.reply
                elapsed = (time.perf_counter() - began) * 1000
                assert reply is not None and reply.status == "complete"
                if i >= 20:
                    timings[recording].append(elapsed)
                if i % 20 == 0:
                    await runtime.chat.prune(session["id"], keep_messages=20)
            runtime.llm.on_call = record
            sample = CallRecord(provider="s", model="m", result="ok", input_tokens=10,
                                output_tokens=5, cached_tokens=0, duration_ms=1.0,
                                context={"agent_id": "aman", "purpose": "chat"})
            began = time.perf_counter()
            for _ in range(10_000):
                runtime.usage.record(sample)
            record_us = (time.perf_counter() - began) / 10_000 * 1e6
        finally:
            await runtime.stop()
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    print(f"skipped heartbeat tick: {per_tick_ms:.3f} ms per tick over {ticks} ticks, "
          f"{calls} tokens spent (target < 5 ms, no model call)")
    print(f"chat turn p50 with usage recording {on:.3f} ms, without {off:.3f} ms, "
          f"difference {on - off:+.3f} ms (target < 1 ms)")
    print(f"UsageService.record: {record_us:.1f} µs per call")


def main() -> None:
    """Parse the arguments and run the measurements."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=500)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.ticks, args.turns))


if __name__ == "__main__":
    main()
