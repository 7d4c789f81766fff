#!/usr/bin/env python3
"""MCP benchmark: what aman adds to a call of a stdio MCP tool, against the SDK used directly.

Usage: .venv/bin/python scripts/bench_mcp.py [--calls 300]

Two copies of the PyPI ``mcp-server-time`` run over stdio in one process: one behind a booted
aman runtime (the call goes through ``ToolRegistry.execute``, as the agent's tool loop and
``POST /tools/{name}/execute`` do: argument validation, guard, dispatch facts, the connection,
result to capped text), one behind a bare SDK ``ClientSession``. The calls alternate between the
two, so both see the same machine load; the figure is the difference of the medians (and of the
95th percentiles). Target: under 5 ms added per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from aman.config.loader import load_settings
from aman.core.runtime import Runtime
from aman.tools.model import ToolContext

TOOL = "get_current_time"
ARGUMENTS = {"timezone": "Europe/Berlin"}
SERVER = {"command": sys.executable,
          "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
TARGET_MS = 5.0


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(calls: int) -> int:
    """Run the comparison and print the figures; non-zero when over the target."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={
            "runtime.dir": str(Path(tmp) / "home"), "runtime.log_level": "WARNING",
            "mcp.servers": {"time": SERVER}})
        runtime = Runtime(settings)
        await runtime.start()
        try:
            deadline = time.monotonic() + 120
            while runtime.mcp.states().get("time") != "ready":
                if time.monotonic() > deadline:
                    print(f"the time server did not connect: {runtime.mcp.describe('time')}")
                    return 1
                await asyncio.sleep(0.05)
            params = StdioServerParameters(command=SERVER["command"], args=SERVER["args"])
            async with stdio_client(params) as (read, write), \
                    ClientSession(read, write) as direct:
                await direct.initialize()
                through_aman, through_sdk = await compare(runtime, direct, calls)
        finally:
            await runtime.stop()
    median_added = statistics.median(through_aman) - statistics.median(through_sdk)
    p95_added = percentile(through_aman, 0.95) - percentile(through_sdk, 0.95)
    print(f"calls per path: {calls}")
    print(f"SDK directly:   median {statistics.median(through_sdk):.2f} ms, "
          f"p95 {percentile(through_sdk, 0.95):.2f} ms")
    print(f"through aman:   median {statistics.median(through_aman):.2f} ms, "
          f"p95 {percentile(through_aman, 0.95):.2f} ms")
    print(f"added by aman:  median {median_added:.2f} ms, p95 {p95_added:.2f} ms "
          f"(target < {TARGET_MS:g} ms)")
    return 0 if median_added < TARGET_MS else 1


async def compare(runtime: Runtime, direct: ClientSession,
                  calls: int) -> tuple[list[float], list[float]]:
    """Alternate one call through aman and one through the SDK; times in ms."""
    name = f"mcp__time__{TOOL}"
    ctx = ToolContext(call_id="bench")
    for _ in range(10):  # warm both paths up
        await runtime.tools.execute(name, ARGUMENTS, ctx)
        await direct.call_tool(TOOL, ARGUMENTS)
    through_aman, through_sdk = [], []
    for _ in range(calls):
        started = time.perf_counter()
        result = await runtime.tools.execute(name, ARGUMENTS, ctx)
        through_aman.append((time.perf_counter() - started) * 1000)
        assert result.status == "success", result
        started = time.perf_counter()
        answer = await direct.call_tool(TOOL, ARGUMENTS)
        through_sdk.append((time.perf_counter() - started) * 1000)
        assert not answer.is_error, answer
    return through_aman, through_sdk


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    sys.exit(asyncio.run(main(parser.parse_args().calls)))
