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

With --store (postgresql://... for a server you run, or ``postgresql`` for a throwaway local one
started like the tests' and stopped at the end), the run instead compares durable push throughput
of (a) one daemon on SQLite, (b) one daemon on PostgreSQL and (c) two daemons sharing one
PostgreSQL database (the same clients in total, spread over both), each on a fresh database,
--rounds times in turn; it prints the server's settings, the CPU each process used and the
ratio (c)/(b). Target: (c) >= 1.6 x (b).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import CpuWindow, children, database_url, pg_run, pg_settings, postmaster_of

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
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def push_request(source: str, payload: dict[str, object]) -> bytes:
    """A raw HTTP/1.1 POST /events/push carrying ``payload``."""
    body = json.dumps({"source": source, "type": "bench", "payload": payload}).encode()
    return (f"POST /events/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def load(ports: int | list[int], clients: int, seconds: float, make: callable,
               expect: int) -> tuple[int, list[float]]:
    """Drive ``clients`` connections for ``seconds`` (spread over ``ports``); return errors and
    latencies."""
    ports = [ports] if isinstance(ports, int) else ports
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    errors = 0

    async def client(n: int) -> None:
        nonlocal errors
        conn = await Connection.open(ports[n % len(ports)])
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
    writer.write(b"GET /events/stream?types=bench.sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
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
            raw = ("POST /events/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
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


def start_daemon(home: str, port: int, extra: str = "") -> subprocess.Popen[bytes]:
    """Start a daemon with generous bus limits and wait until it is ready."""
    proc = spawn_daemon(home, port, extra)
    wait_ready(proc, port, home)
    return proc


def spawn_daemon(home: str, port: int, extra: str = "", *,
                 own_session: bool = False) -> subprocess.Popen[bytes]:
    """Start a daemon with generous bus limits (and the YAML ``extra``); do not wait.

    ``own_session``: in a session of its own, as a service is. Where the kernel groups
    processes by session for CPU fairness (``/proc/sys/kernel/sched_autogroup_enabled``), the
    daemons would otherwise share one group's CPU with the load generator on a busy machine.
    """
    config = Path(home) / "bench.yaml"
    # Generous limits: the benchmark measures the bus, not the per-source rate limiter.
    config.write_text(
        "runtime:\n  log_level: WARNING\n"
        "event_bus:\n  rate_limit_per_sec: 1000000\n  rate_limit_burst: 1000000\n"
        "  max_queue_size: 1000000\n" + extra
    )
    return subprocess.Popen(
        [sys.executable, "-m", "aman", "run", "--config", str(config), "--bind",
         f"127.0.0.1:{port}", "--home", home],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(Path(home) / "daemon.log").open("wb"),
        start_new_session=own_session,
        env={k: v for k, v in os.environ.items() if not k.startswith("AMAN_")},
    )


def wait_ready(proc: subprocess.Popen[bytes], port: int, home: str) -> None:
    """Wait until the daemon on ``port`` answers /health/ready; kill it if it never does."""
    log = Path(home) / "daemon.log"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(get_request("/health/ready"))
                if b" 200 " in sock.recv(100):
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"daemon on port {port} exited with {proc.returncode}: "
                               f"{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"daemon did not become ready: {log.read_text(errors='replace')[-2000:]}")


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


# --- --store: one daemon on SQLite, one on PostgreSQL, two sharing PostgreSQL -----------------

#: The throwaway server keeps PostgreSQL's durability defaults (fsync, synchronous commit on).
TEMP_SERVER_OPTIONS = "-c max_connections=200"
CONFIGS = ("sqlite", "pg x1", "pg x2")


async def measure(config: str, args: argparse.Namespace, admin_url: str | None,
                  postmaster: int | None, index: int) -> dict[str, Any]:
    """One configuration on a fresh store (a database of its own, dropped after the run)."""
    if config == "sqlite":
        return await push_run(config, args, None, None)
    assert admin_url is not None
    database = f"aman_bench_{os.getpid()}_{index}"
    url = database_url(admin_url, database)
    await pg_run(admin_url, f"DROP DATABASE IF EXISTS {database}")
    await pg_run(admin_url, f"CREATE DATABASE {database}")
    try:
        result = await push_run(config, args, url, postmaster)
        rows = await pg_run(url, "SELECT count(*) AS n FROM events WHERE event_type = 'bench'")
        result["stored"] = int(rows[0]["n"])
        rows = await pg_run(admin_url, "SELECT xact_commit FROM pg_stat_database"
                                       f" WHERE datname = '{database}'")
        result["commits"] = int(rows[0]["xact_commit"]) if rows else None
    finally:
        await pg_run(admin_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return result


async def push_run(config: str, args: argparse.Namespace, url: str | None,
                   postmaster: int | None) -> dict[str, Any]:
    """Start the configuration's daemons on ``url`` (None: SQLite), warm up, push for
    ``args.seconds`` and stop them; throughput, latency and CPU."""
    count = 2 if config == "pg x2" else 1
    with tempfile.TemporaryDirectory() as tmp:
        ports = [free_port() for _ in range(count)]
        procs = []
        try:
            for n, port in enumerate(ports):
                home = Path(tmp) / f"node{n}"
                home.mkdir()
                extra = (f"store:\n  url: {json.dumps(url)}\n"
                         f"cluster:\n  node_name: bench-{n}\n") if url else ""
                procs.append(spawn_daemon(str(home), port, extra,
                                          own_session=not args.one_session))
            for n, (proc, port) in enumerate(zip(procs, ports, strict=True)):
                wait_ready(proc, port, str(Path(tmp) / f"node{n}"))
            push = lambda n, i: push_request(f"bench:{n}", {"i": i})  # noqa: E731
            warm_errors, warm = await load(ports, args.clients, 1.0, push, 202)  # warm-up
            groups: dict[str, Callable[[], list[int]]] = {"generator": lambda: [os.getpid()]}
            for n, proc in enumerate(procs):
                groups[f"daemon {n + 1}"] = lambda pid=proc.pid: [pid]
            if postmaster is not None and url is not None:
                groups["postgresql"] = lambda: [postmaster, *children(postmaster)]
            window = CpuWindow(groups)
            window.start()
            errors, latencies = await load(ports, args.clients, args.seconds, push, 202)
            cpu = window.stop()
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
    daemons = sum(value for name, value in cpu.items() if name.startswith("daemon"))
    rate = len(latencies) / args.seconds
    return {"config": config, "rate": rate, "errors": errors + warm_errors,
            "accepted": len(latencies) + len(warm) - errors - warm_errors, "stored": None,
            "commits": None, "cpu": cpu, "cpu_ms": 10 * daemons / rate if rate else 0.0,
            "pg_ms": 10 * cpu["postgresql"] / rate if rate and "postgresql" in cpu else None,
            "p50": percentile(latencies, .5), "p99": percentile(latencies, .99)}


def report_row(result: dict[str, Any]) -> str:
    """One measured configuration as a line of the report."""
    cpu = ", ".join(f"{name} {value:.0f} %" for name, value in result["cpu"].items())
    stored = ("" if result["stored"] is None
              else f", stored {result['stored']} of {result['accepted']} accepted")
    if result["commits"] and result["stored"]:
        stored += f", {result['commits'] / result['stored']:.2f} commits per event"
    return (f"  {result['config']:<7} {result['rate']:7.0f} events/s  p50 "
            f"{result['p50'] * 1000:6.1f} ms  p99 {result['p99'] * 1000:6.1f} ms  non-202 "
            f"{result['errors']}{stored}\n          cpu: {cpu}; cpu per event: daemons "
            f"{result['cpu_ms']:.2f} ms" + ("" if result["pg_ms"] is None
                                            else f", postgresql {result['pg_ms']:.2f} ms"))


async def compare_stores(args: argparse.Namespace, admin_url: str,
                         postmaster: int | None) -> None:
    """The three configurations, ``args.rounds`` times in turn, and the medians."""
    settings = await pg_settings(admin_url)
    print(f"clients={args.clients} (in total) seconds={args.seconds} rounds={args.rounds} "
          f"cpus={os.cpu_count()} load average={os.getloadavg()[0]:.1f}")
    print("postgresql: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    grouping = autogroup.read_text().strip() == "1" if autogroup.exists() else False
    print(f"daemons: {'in this session' if args.one_session else 'one session each'}"
          f" (kernel autogroup {'on' if grouping else 'off'})")
    print("cpu: % of one core over the measured window; machine = all cores together "
          f"({100 * (os.cpu_count() or 1)} % is all of them)")
    results: dict[str, list[float]] = {config: [] for config in CONFIGS}
    index = 0
    for round_no in range(args.rounds):
        print(f"round {round_no + 1}:")
        for config in CONFIGS:
            index += 1
            result = await measure(config, args, admin_url, postmaster, index)
            results[config].append(result["rate"])
            print(report_row(result), flush=True)
    medians = {config: statistics.median(rates) for config, rates in results.items()}
    print("median events/s: " + ", ".join(f"{c} {r:.0f}" for c, r in medians.items()))
    ratios = [two / one for two, one in zip(results["pg x2"], results["pg x1"], strict=True)]
    print(f"two daemons / one daemon on PostgreSQL: {medians['pg x2'] / medians['pg x1']:.2f}x "
          f"of the medians, {', '.join(f'{r:.2f}x' for r in ratios)} round by round "
          "(target >= 1.6x); PostgreSQL / SQLite (one daemon): "
          f"{medians['pg x1'] / medians['sqlite']:.2f}x")


async def store_main(args: argparse.Namespace) -> None:
    """``--store``: against the given server, or a throwaway local one."""
    if args.store == "postgresql":
        sys.path.insert(0, str(ROOT))
        from tests.pgserver import temporary_server

        options = " ".join([TEMP_SERVER_OPTIONS, *(f"-c {item}" for item in args.pg_setting)])
        with temporary_server(options) as server:
            admin_url = server.url("postgres")
            print(f"throwaway server: {server.folder} (port {server.port})")
            await compare_stores(args, admin_url, server.postmaster_pid())
    else:
        await compare_stores(args, args.store, await postmaster_of(args.store))


def main() -> int:
    """Parse the arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument(
        "--store", metavar="URL",
        help="compare durable push on SQLite, PostgreSQL and two daemons sharing PostgreSQL: "
             "postgresql://user@host:port/db uses that server (the role needs CREATEDB; "
             "databases aman_bench_* are created and dropped), 'postgresql' starts a throwaway "
             "local one")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --store: measure the three configurations this many times")
    parser.add_argument("--one-session", action="store_true",
                        help="with --store: start the daemons in this script's session instead "
                             "of one each (one CPU group under the kernel's autogroup)")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="with --store postgresql: a server setting for the throwaway server "
                             "(repeatable), e.g. synchronous_commit=off")
    args = parser.parse_args()
    if args.pg_setting and args.store != "postgresql":
        parser.error("--pg-setting applies to the throwaway server (--store postgresql) only")
    if any("=" not in item or " " in item for item in args.pg_setting):
        parser.error("--pg-setting takes NAME=VALUE without spaces")
    if args.store is not None and args.store != "postgresql" \
            and not args.store.startswith(("postgresql://", "postgres://")):
        parser.error("--store takes postgresql://user@host:port/database or 'postgresql'")
    asyncio.run(store_main(args) if args.store else main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
