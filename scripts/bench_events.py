#!/usr/bin/env python3
"""Event bus benchmark against the real daemon, in one run:

1. ceiling: GET /health/live with C concurrent keep-alive clients for D seconds;
2. push: POST /events/push (at_least_once, so every event is committed before its 202) with the
   same clients for D seconds: throughput and latency p50/p99, and the ratio to the ceiling;
3. push -> SSE: one /events/stream client while events are pushed at R events/s; latency from
   just before the push to the event:processed message, p50/p99.

Usage: .venv/bin/python scripts/bench_events.py [--clients 32] [--seconds 10] [--rate 500]
Targets: push throughput >= 50 % of the ceiling; push->SSE p99 < 50 ms at 500/s.
The load generator is a minimal raw-socket HTTP/1.1 client so it costs far less CPU than the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        """Connect to the daemon on ``port``."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one raw request; return the status and body of the response."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


def get_request(path: str) -> bytes:
    """A raw HTTP/1.1 GET for ``path``."""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def push_request(source: str, payload: dict[str, object]) -> bytes:
    """A raw HTTP/1.1 POST /events/push carrying ``payload``."""
    body = json.dumps({"source": source, "type": "bench", "payload": payload}).encode()
    return (f"POST /events/push HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def load(port: int, clients: int, seconds: float, make: callable,
               expect: int) -> tuple[int, list[float]]:
    """Drive ``clients`` connections for ``seconds``; return errors and latencies."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    errors = 0

    async def client(n: int) -> None:
        nonlocal errors
        conn = await Connection.open(port)
        i = 0
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, _ = await conn.request(make(n, i))
                latencies.append(time.perf_counter() - started)
                if status != expect:
                    errors += 1
                i += 1
        finally:
            conn.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return errors, latencies


async def sse_latency(port: int, rate: int, seconds: float) -> list[float]:
    """Push at ``rate`` per second; latencies until each event arrives over SSE."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /events/stream?types=bench.sse HTTP/1.1\r\nHost: bench\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    latencies: list[float] = []
    sent: dict[int, float] = {}
    total = int(rate * seconds)

    async def read() -> None:
        data_prefix = b"data: "
        while len(latencies) < total:
            line = await reader.readline()
            if not line:
                return
            line = line.split(b"\r\n", 1)[0].rstrip(b"\n")
            # chunked transfer: payload lines are plain SSE lines between chunk sizes
            if line.startswith(data_prefix):
                try:
                    event = json.loads(line[len(data_prefix):])
                except ValueError:
                    continue
                n = event.get("payload", {}).get("n")
                if n in sent:
                    latencies.append(time.perf_counter() - sent.pop(n))

    async def push() -> None:
        conns = [await Connection.open(port) for _ in range(8)]
        interval = 1.0 / rate
        start = time.perf_counter()

        async def one(n: int) -> None:
            conn = conns[n % len(conns)]
            body = json.dumps({"source": f"sse:{n % 16}", "type": "bench.sse",
                               "payload": {"n": n}}).encode()
            raw = ("POST /events/push HTTP/1.1\r\nHost: bench\r\n"
                   "Content-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            sent[n] = time.perf_counter()
            await conn.request(raw)

        locks = [asyncio.Lock() for _ in conns]

        async def paced(n: int) -> None:
            async with locks[n % len(conns)]:
                await one(n)

        tasks = []
        for n in range(total):
            target = start + n * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(paced(n)))
        await asyncio.gather(*tasks)
        for conn in conns:
            conn.close()

    reader_task = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    await push()
    try:
        await asyncio.wait_for(reader_task, timeout=10)
    except TimeoutError:
        pass
    writer.close()
    return latencies


def start_daemon(home: str, port: int) -> subprocess.Popen[bytes]:
    """Start a daemon with generous bus limits and wait until it is ready."""
    config = Path(home) / "bench.yaml"
    # Generous limits: the benchmark measures the bus, not the per-source rate limiter.
    config.write_text(
        "runtime:\n  log_level: WARNING\n"
        "event_bus:\n  rate_limit_per_sec: 1000000\n  rate_limit_burst: 1000000\n"
        "  max_queue_size: 1000000\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "aman", "run", "--config", str(config), "--bind",
         f"127.0.0.1:{port}", "--home", home],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("AMAN_")},
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(get_request("/health/ready"))
                if b" 200 " in sock.recv(100):
                    return proc
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("daemon did not become ready")


async def main_async(args: argparse.Namespace) -> None:
    """Run the throughput and SSE latency benchmarks and print the results."""
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        proc = start_daemon(home, port)
        try:
            live = get_request("/health/live")
            await load(port, args.clients, 1.0, lambda n, i: live, 200)  # warm-up
            errors, health = await load(port, args.clients, args.seconds, lambda n, i: live, 200)
            ceiling = len(health) / args.seconds
            errors_p, pushes = await load(
                port, args.clients, args.seconds,
                lambda n, i: push_request(f"bench:{n}", {"i": i}), 202)
            push_rate = len(pushes) / args.seconds
            print(f"clients={args.clients} seconds={args.seconds}")
            print(f"GET /health/live ceiling: {ceiling:.0f} req/s "
                  f"(p50 {percentile(health, .5)*1000:.1f} ms, "
                  f"p99 {percentile(health, .99)*1000:.1f} ms, errors {errors})")
            print(f"POST /events/push (durable): {push_rate:.0f} req/s "
                  f"(p50 {percentile(pushes, .5)*1000:.1f} ms, "
                  f"p99 {percentile(pushes, .99)*1000:.1f} ms, non-202 {errors_p})")
            print(f"push / ceiling: {push_rate / ceiling:.0%} (target >= 50 %)")
            await asyncio.sleep(2)  # let the bus settle before the latency run
            sse = await sse_latency(port, args.rate, args.seconds / 2)
            expected = int(args.rate * args.seconds / 2)
            if sse:
                print(f"push -> SSE at {args.rate}/s: received {len(sse)}/{expected}, "
                      f"p50 {percentile(sse, .5)*1000:.1f} ms, "
                      f"p99 {percentile(sse, .99)*1000:.1f} ms "
                      f"(target p99 < 50 ms)")
            else:
                print("push -> SSE: no events received (is /events/stream available?)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def main() -> int:
    """Parse the arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=500)
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
