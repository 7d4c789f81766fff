"""Retention pruning of the event log and DLQ expiry with warnings, on an injected clock."""

from __future__ import annotations

import asyncio

from aman.core.maintenance import prune_events_once
from aman.core.runtime import Runtime
from aman.events import types as t
from aman.events.dlq import DAY_MS
from aman.events.filters import EventFilter
from aman.events.model import DlqQuery, Event
from tests.helpers import ManualClock, SettingsFactory, wait_for


async def settle(runtime: Runtime) -> None:
    await asyncio.wait_for(runtime.bus.wait_idle(), 5)
    await runtime.writer.flush()


async def test_prune_keeps_recent_events_and_drops_old_ones(make_settings: SettingsFactory) -> None:
    clock = ManualClock(real_monotonic=True)
    runtime = Runtime(make_settings(**{"event_bus.retention_days": 1}), clock=clock)
    await runtime.start()
    try:
        old = await runtime.bus.publish(Event.create(source="s", event_type="old",
                                                     now_ms=clock.now))
        await settle(runtime)
        clock.now += 2 * DAY_MS
        new = await runtime.bus.publish(Event.create(source="s", event_type="new",
                                                     now_ms=clock.now))
        await settle(runtime)
        await prune_events_once(runtime.event_log, runtime.settings, runtime.clock)
        assert await runtime.event_log.get(old.event.id) is None
        kept = await runtime.event_log.get(new.event.id)
        assert kept is not None and kept["steps"]
    finally:
        await runtime.stop()


async def test_pruning_runs_again_each_interval_of_the_clock(
        make_settings: SettingsFactory) -> None:
    clock = ManualClock(real_monotonic=True)
    runtime = Runtime(make_settings(**{"event_bus.retention_days": 1,
                                       "event_bus.prune_interval_sec": 600}), clock=clock)
    await runtime.start()
    try:
        old = await runtime.bus.publish(Event.create(source="s", event_type="old",
                                                     now_ms=clock.now))
        await settle(runtime)
        await wait_for(lambda: 600 in clock.slept, what="the pruning loop to wait its interval")
        clock.advance(2 * DAY_MS / 1000)  # past the retention and the interval: pruning runs

        async def pruned() -> bool:
            return await runtime.event_log.get(old.event.id) is None

        await wait_for(pruned, what="the old event to be pruned by the loop")
    finally:
        await runtime.stop()


async def test_prune_caps_the_number_of_events(make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**{"event_bus.retention_max_events": 1000}))
    await runtime.start()
    try:
        ids = [(await runtime.bus.publish(Event.create(source=f"s{n % 7}", event_type="x"),
                                          internal=True)).event.id
               for n in range(1010)]
        await settle(runtime)
        await prune_events_once(runtime.event_log, runtime.settings, runtime.clock)
        remaining = await runtime.event_log.recent(1000)
        assert len(remaining) == 1000 and remaining[0]["id"] == ids[-1]
        assert await runtime.event_log.get(ids[0]) is None
    finally:
        await runtime.stop()


async def test_dlq_entries_warn_at_7_3_1_days_then_archive(make_settings: SettingsFactory) -> None:
    clock = ManualClock(real_monotonic=True)
    runtime = Runtime(make_settings(**{"dlq.ttl_days": 10, "event_bus.retry_backoff_ms": [1],
                                       "event_bus.max_retries": 0}), clock=clock)
    warnings: list[int] = []
    archived: list[str] = []

    async def bad(e: Event) -> None:
        raise RuntimeError("always")

    async def watch(e: Event) -> None:
        if e.event_type == t.DLQ_EXPIRY_WARNING:
            warnings.append(e.payload["days_left"])
        else:
            archived.append(e.payload["entry_id"])

    runtime.bus.subscribe("bad", bad, EventFilter(event_types=frozenset({"job"})))
    runtime.bus.subscribe("watch", watch,
                          EventFilter(event_types=frozenset({t.DLQ_EXPIRY_WARNING,
                                                             t.DLQ_ARCHIVED})))
    await runtime.start()
    try:
        await runtime.bus.publish(Event.create(source="s", event_type="job", now_ms=clock.now))
        await settle(runtime)
        (entry,), _ = await runtime.dlq.page(DlqQuery(), None, 10)
        for day, expected in [(2, []), (3, [7]), (4, [7]), (7, [7, 3]), (9, [7, 3, 1])]:
            clock.now = entry.enqueued_at_ms + day * DAY_MS + 1
            await runtime.dlq.sweep()
            await settle(runtime)
            assert warnings == expected, f"day {day}"
        clock.now = entry.expires_at_ms + 1
        assert await runtime.dlq.sweep() == (1, 0)
        await settle(runtime)
        assert archived == [entry.id]
        assert (await runtime.dlq.get(entry.id)).status == "archived"
        assert await runtime.dlq.depth() == 0
    finally:
        await runtime.stop()
