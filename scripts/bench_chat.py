#!/usr/bin/env python3
"""Chat benchmark: framework overhead on streamed replies, idle memory per session, local model.

Usage: .venv/bin/python scripts/bench_chat.py [--rounds 20] [--sessions 50] [--idle 1000]
                                              [--local]

One real daemon (``python -m aman run``) with the ``scripted`` provider: every reply's first word
is ``{now}``, which the provider replaces with the wall-clock time it hands the word over. An SSE
client on ``/events/stream`` reads each session's first ``agent:reply_chunk``; overhead = the
time the client parsed it minus that stamp, i.e. everything aman adds between the provider's first
token and a client (turn bookkeeping, the bus observer, SSE encoding, HTTP). Both processes share
this machine's clock. Measured with 1 session (``--rounds`` messages in a row) and with
``--sessions`` sessions streaming at once (``--rounds`` rounds). Then ``--idle`` sessions, each
with one exchange, are created and the daemon's RSS growth is read once idle. ``--local`` also
measures the embedded SmolLM2 (tokens/s and time to first token) in this process.
Targets: overhead p50 <= 5 ms and p99 <= 25 ms at 50 sessions; 1 000 idle sessions add
under 20 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
import httpx
from benchlib import ROOT, percentile

TOKEN = "bench-chat-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def launch(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a daemon with a scripted provider that stamps each reply with its send time."""
    return benchlib.launch(workdir, {
        "http": {"token": TOKEN},
        "runtime": {"log_level": "WARNING"},
        "event_bus": {"rate_limit_per_sec": 100000, "rate_limit_burst": 100000},
        "llm": {"default_provider": "bench", "providers": {"bench": {
            "kind": "scripted", "replies": ["{now} " + "word " * 30], "first_token_ms": 50,
            "token_ms": 10}}},
        "agents": {"aman": {"display_name": "Aman", "queue_max_size": 100}},
    })


class FirstChunks:
    """One SSE client: the overhead of each message's first chunk, by message id."""

    def __init__(self) -> None:
        self.overheads: dict[str, float] = {}
        self.ready = asyncio.Event()

    async def run(self, client: httpx.AsyncClient, base: str) -> None:
        """Read the chunk stream and record each message's first-chunk overhead."""
        url = f"{base}/events/stream?types=agent:reply_chunk"
        async with client.stream("GET", url, headers=HEADERS, timeout=None) as response:
            self.ready.set()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                seen = time.time()
                event = json.loads(line[5:])
                payload = event.get("payload") or {}
                message_id = payload.get("message_id")
                if message_id is None or message_id in self.overheads:
                    continue
                stamp = float(payload["delta"].split()[0])
                self.overheads[message_id] = (seen - stamp) * 1000


async def converse(client: httpx.AsyncClient, base: str, session_id: str, chunks: FirstChunks,
                   rounds: int) -> None:
    """Send ``rounds`` messages to one session, each waiting for its reply."""
    for _ in range(rounds):
        sent = await client.post(f"{base}/chat/session/{session_id}/send",
                                 json={"text": "hello", "wait": True}, headers=HEADERS,
                                 timeout=60)
        sent.raise_for_status()


async def create_session(client: httpx.AsyncClient, base: str) -> str:
    """Create a chat session and return its id."""
    response = await client.post(f"{base}/chat/session/create", json={}, headers=HEADERS)
    response.raise_for_status()
    return str(response.json()["id"])


async def overhead(base: str, sessions: int, rounds: int) -> list[float]:
    """First-chunk overheads (ms) for ``sessions`` sessions sending ``rounds`` each."""
    limits = httpx.Limits(max_connections=sessions + 10)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        chunks = FirstChunks()
        reader = asyncio.create_task(chunks.run(client, base))
        await chunks.ready.wait()
        ids = [await create_session(client, base) for _ in range(sessions)]
        before = len(chunks.overheads)
        await asyncio.gather(*(converse(client, base, i, chunks, rounds) for i in ids))
        await asyncio.sleep(0.3)
        reader.cancel()
        values = list(chunks.overheads.values())[before:]
    return values


async def idle_memory(base: str, pid: int, count: int) -> tuple[float, float]:
    """RSS before and after ``count`` sessions have each had one exchange."""
    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.sleep(2)
        before = rss_mb(pid)
        for start in range(0, count, 50):
            ids = await asyncio.gather(*(create_session(client, base)
                                         for _ in range(min(50, count - start))))
            await asyncio.gather(*(client.post(
                f"{base}/chat/session/{i}/send", json={"text": "hi", "wait": True},
                headers=HEADERS) for i in ids))
        await asyncio.sleep(3)
        return before, rss_mb(pid)


async def local_model() -> dict[str, float]:
    """Time to first token and tokens per second of the local model."""
    sys.path.insert(0, str(ROOT))
    from aman.config.agents import ProviderSettings
    from aman.llm.local import create
    from aman.llm.provider import ChatMessage, CompletionRequest, Delta

    provider = create("local", ProviderSettings(kind="local"))
    request = CompletionRequest((ChatMessage("user", "Write three sentences about the sea."),),
                                max_tokens=96, temperature=0.0)
    async for _ in provider.stream(request):  # load and warm up
        break
    started = time.perf_counter()
    first = None
    tokens = 0
    async for item in provider.stream(request):
        if isinstance(item, Delta):
            first = first or time.perf_counter()
            tokens += 1
    ended = time.perf_counter()
    await provider.close()
    assert first is not None
    return {"ttft_ms": (first - started) * 1000,
            "tokens_per_sec": (tokens - 1) / max(1e-9, ended - first), "tokens": tokens}


def summary(label: str, values: list[float]) -> str:
    """One line of percentiles for ``values`` (ms)."""
    return (f"{label}: n={len(values)} p50 {percentile(values, 0.5):.2f} ms, "
            f"p99 {percentile(values, 0.99):.2f} ms, max {max(values):.2f} ms")


async def main() -> None:
    """Run the chat benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--local", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aman-bench-chat-") as tmp:
        proc, base = launch(Path(tmp))
        try:
            print(summary("overhead, 1 session", await overhead(base, 1, args.rounds)))
            print(summary(f"overhead, {args.sessions} sessions",
                          await overhead(base, args.sessions, args.rounds)))
            before, after = await idle_memory(base, proc.pid, args.idle)
            print(f"idle memory: {args.idle} sessions with one exchange each: RSS {before:.1f} "
                  f"→ {after:.1f} MB (+{after - before:.1f} MB)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    if args.local:
        figures = await local_model()
        print(f"local SmolLM2: time to first token {figures['ttft_ms']:.0f} ms, "
              f"{figures['tokens_per_sec']:.0f} tokens/s over {figures['tokens']:.0f} tokens")


if __name__ == "__main__":
    asyncio.run(main())
