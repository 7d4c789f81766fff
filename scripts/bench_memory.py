#!/usr/bin/env python3
"""Memory benchmark: search over many stored messages, and the prompt block of full files.

Usage: .venv/bin/python scripts/bench_memory.py [--messages 100000] [--queries 200]

In this process, on a real runtime (SQLite in a temporary dir): ``--messages`` finished chat
messages are stored in 1 000 sessions through the repository (one group commit per 2 000 rows),
then ``--queries`` searches of the kind ``memory_search`` makes (two or three words drawn
with the Zipf frequencies of the stored text) are timed; then the memory block of a session's
system prompt is built from MEMORY.md and USER.md filled to their limits.
Targets: ``memory_search`` p95 under 50 ms over 100 000 messages; the prompt block under 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from aman.config.loader import load_settings
from aman.core.runtime import Runtime

#: A vocabulary with word frequencies like real text (Zipf's law): a few words are everywhere,
#: most are rare. Queries take two or three words of any frequency, as people's searches do.
VOCABULARY = [f"{syllable}{n}" for n, syllable in
              enumerate(["ka", "lo", "mi", "ter", "sun", "ra", "vel", "dor"] * 2500)]
WEIGHTS = [1 / (rank + 1) ** 1.1 for rank in range(len(VOCABULARY))]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(messages: int, queries: int) -> None:
    """Fill the store, then time searches and the prompt block."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={
            "runtime.dir": str(Path(tmp, "home")), "tools.workspace_dir": str(Path(tmp, "ws")),
            "llm.default_provider": "s", "llm.providers": {"s": {"kind": "scripted"}}})
        runtime = Runtime(settings)
        await runtime.start()
        try:
            sessions = []
            for i in range(1000):
                made = await runtime.chat.create(agent_id="aman", session_type="persistent",
                                                 title=f"s{i}", operator="bench")
                sessions.append(made["id"])
            began = time.perf_counter()
            rows = []
            now = runtime.clock.now_ms()
            for n in range(messages):
                text = " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(8, 30)))
                rows.append((f"m{n:07d}", sessions[n % 1000], 1_000 + n, "user", text,
                             "complete", None, None, None, None, None, None, None, now, now,
                             None))
                if len(rows) == 2000 or n == messages - 1:
                    async with runtime.db.transaction() as tx:
                        await tx.executemany(
                            "INSERT INTO chat_messages (id, session_id, seq, role, content,"
                            " status, replaces, model, input_tokens, output_tokens, error, skill,"
                            " model_text, created_at, updated_at, tool_steps)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    rows = []
            fill_sec = time.perf_counter() - began
            timings = []
            for _ in range(queries):
                query = " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(2, 3)))
                started = time.perf_counter()
                await runtime.memory.search("aman", query, 10, session_id=sessions[0])
                timings.append((time.perf_counter() - started) * 1000)
            limits = settings.agents["aman"].memory.max_chars if "aman" in settings.agents \
                else None
            memory_chars = limits.memory if limits else 4000
            user_chars = limits.user if limits else 2000
            await runtime.memory.replace("aman", "memory", "\n§\n".join(
                ["A remembered fact about the work, " + "x" * 150] * (memory_chars // 200)),
                author="bench", reason="fill")
            await runtime.memory.replace("aman", "user", "\n§\n".join(
                ["Something about the person, " + "y" * 150] * (user_chars // 200)),
                author="bench", reason="fill")
            block_ms = []
            for i in range(200):
                started = time.perf_counter()
                block = await runtime.memory.snapshot("aman", f"fresh-session-{i}")
                block_ms.append((time.perf_counter() - started) * 1000)
                assert block and "MEMORY.md" in block
        finally:
            await runtime.stop()
    print(f"stored {messages} messages in {fill_sec:.1f} s")
    print(f"memory_search over {messages} messages: p50 {percentile(timings, 0.5):.2f} ms, "
          f"p95 {percentile(timings, 0.95):.2f} ms (target p95 < 50 ms)")
    print(f"memory prompt block with full files: p50 {percentile(block_ms, 0.5):.3f} ms, "
          f"p95 {percentile(block_ms, 0.95):.3f} ms (target < 2 ms)")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.queries))


if __name__ == "__main__":
    main()
