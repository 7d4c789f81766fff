#!/usr/bin/env python3
"""Delivery benchmark: what the exactly-once guarantee costs against at-least-once.

Usage: .venv/bin/python scripts/bench_delivery.py [--events 2000] [--handlers 4] [--rounds 4]

In this process, on a real runtime (SQLite in a temporary dir): ``--handlers`` subscribers that
return at once; rounds of ``--events`` events published at once (concurrent publishers, as many
clients pushing), then the bus drained and its writes committed. Rounds alternate at-least-once
and exactly-once in ABBA order, so position effects cancel. An exactly-once delivery commits
``running`` before its handler runs and ``ok`` after it; an at-least-once one queues ``ok`` for
the next batch.
Target: exactly-once keeps at least a third of at-least-once's delivery throughput (its two
commits per delivery are shared with every other delivery and push in flight: group commit).
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
from aman.events.filters import EventFilter
from aman.events.model import Delivery, Event

ONLY_BENCH = EventFilter(event_types=frozenset({"bench.delivery"}))


async def one_round(runtime: Runtime, delivery: Delivery, events: int, handlers: int) -> float:
    """Publish ``events`` events, wait until every delivery is settled and committed; return
    deliveries per second."""
    started = time.perf_counter()
    await asyncio.gather(*(runtime.bus.publish(Event.create(
        source=f"bench:{n % 16}", event_type="bench.delivery", payload={"n": n},
        delivery=delivery), internal=True) for n in range(events)))
    await runtime.bus.wait_idle()
    await runtime.writer.flush()
    return events * handlers / (time.perf_counter() - started)


async def run(events: int, handlers: int, rounds: int) -> None:
    """Boot a runtime with no-op handlers and time the rounds of each guarantee."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={
            "runtime.dir": str(Path(tmp, "home")), "event_bus.max_queue_size": events * 4})
        runtime = Runtime(settings)

        async def handler(event: Event) -> None:
            return None

        for n in range(handlers):
            runtime.bus.subscribe(f"bench-{n}", handler, ONLY_BENCH)
        await runtime.start()
        rates: dict[Delivery, list[float]] = {Delivery.AT_LEAST_ONCE: [],
                                              Delivery.EXACTLY_ONCE: []}
        try:
            await one_round(runtime, Delivery.EXACTLY_ONCE, events // 4, handlers)  # warm-up
            for i in range(rounds * 2):
                once = i % 4 in (1, 2)  # ABBA
                delivery = Delivery.EXACTLY_ONCE if once else Delivery.AT_LEAST_ONCE
                rates[delivery].append(await one_round(runtime, delivery, events, handlers))
        finally:
            await runtime.stop()
    least = statistics.median(rates[Delivery.AT_LEAST_ONCE])
    exactly = statistics.median(rates[Delivery.EXACTLY_ONCE])
    print(f"{events} events x {handlers} handlers, {rounds} rounds each (median):")
    print(f"  at_least_once: {least:,.0f} deliveries/s")
    print(f"  exactly_once:  {exactly:,.0f} deliveries/s")
    print(f"  exactly_once / at_least_once: {exactly / least:.0%} (target >= 33 %)")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--handlers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.handlers, args.rounds))


if __name__ == "__main__":
    main()
