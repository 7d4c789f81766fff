#!/usr/bin/env python3
"""Workflow benchmark: transitions per second with live instances, and boot recovery.

Usage: .venv/bin/python scripts/bench_workflows.py [--instances 1000] [--rounds 10]
                                                   [--persisted 10000]

Runs an embedded Runtime (real SQLite file, real bus, real engine; no HTTP) in a temp dir.
Transitions: ``--instances`` instances of a two-state workflow, then ``--rounds`` rounds in which
every instance gets one ``flip`` event through the bus (each a committed transition with its
history row and its ``workflow_state_changed`` fact). The same number of events to a no-op
subscriber in the same run gives the bus's own ceiling, so the figure is also a ratio.
Recovery: ``--persisted`` instances, each with a pending state timeout, are stored; the runtime is
stopped and a new one boots on the same dir. Reported: boot to ready, and the workflows and
workflow_timers steps, next to a boot on an empty dir in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aman.config.loader import load_settings  # noqa: E402
from aman.core.runtime import Runtime  # noqa: E402
from aman.events.filters import EventFilter  # noqa: E402
from aman.events.model import Event  # noqa: E402

FLIP = """
name: flip
states: [a, b, done]
initial_state: a
final_states: [done]
transitions:
  - {from: a, event: flip, to: b}
  - {from: b, event: flip, to: a}
  - {from: "*", event: finish, to: done}
state_timeouts:
  - {state: a, after: 7d, on_timeout: done}
"""


def make_runtime(home: Path, workflows: Path) -> Runtime:
    """A Runtime over ``home`` loading the workflows in ``workflows``."""
    settings = load_settings(env={}, overrides={
        "runtime.dir": str(home), "workflows.dirs": [str(workflows)],
        "skills.dirs": [str(home / "no-skills")], "runtime.log_level": "WARNING"})
    return Runtime(settings)


async def publish_round(rt: Runtime, events: list[Event]) -> None:
    """Publish ``events`` concurrently and wait until the bus and writer are idle."""
    # Producers publish concurrently (as HTTP requests would), so event writes group-commit.
    await asyncio.gather(*(rt.bus.publish(event, internal=True) for event in events))
    await rt.bus.wait_idle()
    await rt.writer.flush()


async def transitions(home: Path, workflows: Path, instances: int, rounds: int) -> dict[str, float]:
    """Transition throughput of ``instances`` live instances over ``rounds`` rounds."""
    rt = make_runtime(home, workflows)
    await rt.start()
    try:
        ids = [(await rt.workflows.create("flip", {"n": n})).id for n in range(instances)]
        # Baseline: the same event volume to a subscriber that does nothing.
        async def nothing(event: Event) -> None:
            return None

        rt.bus.subscribe("bench:noop", nothing, EventFilter(event_types=frozenset({"noop"})))
        started = time.perf_counter()
        for _ in range(rounds):
            await publish_round(rt, [Event.create(source="bench", event_type="noop")
                                     for _ in ids])
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        per_round = []
        for _ in range(rounds):
            began = time.perf_counter()
            await publish_round(rt, [Event.create(
                source="bench", event_type="flip", payload={"workflow_instance_id": i})
                for i in ids])
            per_round.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - started
        sample = await rt.workflows.get(ids[0])
        assert len(sample.history) == rounds + 1, "every flip must be a committed transition"
    finally:
        await rt.stop()
    total = instances * rounds
    return {"transitions": total, "seconds": elapsed, "per_sec": total / elapsed,
            "noop_per_sec": total / baseline, "round_median_s": statistics.median(per_round)}


async def seed(home: Path, workflows: Path, count: int) -> None:
    """Persist ``count`` workflow instances."""
    rt = make_runtime(home, workflows)
    await rt.start()
    try:
        batch = 500
        for offset in range(0, count, batch):
            await asyncio.gather(*(rt.workflows.create("flip", {"n": n})
                                   for n in range(offset, min(count, offset + batch))))
        await rt.writer.flush()
    finally:
        await rt.stop()


async def boot(home: Path, workflows: Path) -> dict[str, float]:
    """Boot a Runtime over persisted instances; time the workflow steps."""
    rt = make_runtime(home, workflows)
    started = time.perf_counter()
    await rt.start()
    ready = time.perf_counter() - started
    steps = {s["name"]: s["duration_ms"] for p in rt.status()["phases"] for s in p["steps"]}
    pending = len(rt.workflows._timers)  # noqa: SLF001 - the figure we want to show
    await rt.stop()
    return {"ready_s": ready, "workflows_ms": steps["workflows"],
            "workflow_timers_ms": steps["workflow_timers"], "timers": pending}


async def main() -> None:
    """Run the workflow benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--persisted", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aman-bench-wf-") as tmp:
        root = Path(tmp)
        workflows = root / "workflows"
        workflows.mkdir()
        (workflows / "flip.yaml").write_text(FLIP, encoding="utf-8")
        flips = await transitions(root / "live", workflows, args.instances, args.rounds)
        print(f"transitions: {flips['transitions']} over {args.instances} live instances in "
              f"{flips['seconds']:.2f} s = {flips['per_sec']:.0f}/s (median round "
              f"{flips['round_median_s']:.3f} s); no-op subscriber, same volume: "
              f"{flips['noop_per_sec']:.0f}/s; "
              f"ratio {flips['per_sec'] / flips['noop_per_sec']:.2f}")
        empty = await boot(root / "empty", workflows)
        await seed(root / "full", workflows, args.persisted)
        full = await boot(root / "full", workflows)
        print(f"recovery: {args.persisted} persisted instances ({full['timers']:.0f} timers) → "
              f"ready in {full['ready_s']:.3f} s (workflows step {full['workflows_ms']:.1f} ms, "
              f"workflow_timers step {full['workflow_timers_ms']:.1f} ms); empty dir: ready in "
              f"{empty['ready_s']:.3f} s (timers step {empty['workflow_timers_ms']:.1f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
