"""The bus through a real Runtime on a temp SQLite file.

Order, retries, DLQ, dedup, backpressure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aman.core.runtime import Runtime
from aman.errors import BackpressureError, NotReadyError, RateLimitedError
from aman.events.backpressure import Level, level_for
from aman.events.filters import EventFilter
from aman.events.model import Delivery, DlqQuery, Event, Priority
from tests.helpers import SettingsFactory, count_deliveries, hang, wait_for

FAST = {"event_bus.retry_backoff_ms": [5, 10], "event_bus.max_retries": 2}


@pytest.fixture
async def rt(make_settings: SettingsFactory,
             request: pytest.FixtureRequest) -> AsyncIterator[Runtime]:
    overrides: dict[str, Any] = {**FAST, **getattr(request, "param", {})}
    runtime = Runtime(make_settings(**overrides))
    await runtime.start()
    yield runtime
    await runtime.stop()


async def idle(runtime: Runtime) -> None:
    """Wait until the bus has nothing left to do and its writes are committed."""
    await asyncio.wait_for(runtime.bus.wait_idle(), 5)
    await runtime.writer.flush()


#: Test handlers see only events made by ``event()``, not the runtime's own facts.
ONLY_TEST_EVENTS = EventFilter(event_types=frozenset({"t"}))


def event(source: str = "test:a", event_type: str = "t", **kw: Any) -> Event:
    return Event.create(source=source, event_type=event_type, **kw)


async def test_priority_orders_across_sources_and_fifo_holds_within_one(
        make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**{"event_bus.workers": 1}))
    seen: list[str] = []

    async def record(e: Event) -> None:
        seen.append(e.payload["n"])

    # Boot without opening dispatch, so everything is queued before the single worker starts.
    runtime.bus.subscribe("rec", record)
    await runtime.db.open()
    from aman.store.migrate import migrate
    await migrate(runtime.db)
    await runtime.writer.start()
    await runtime.bus.start()
    try:
        await runtime.bus.publish(event("s1", payload={"n": "s1-low"}, priority=Priority.LOW))
        await runtime.bus.publish(event("s1", payload={"n": "s1-high"}, priority=Priority.HIGH))
        await runtime.bus.publish(event("s2", payload={"n": "s2-normal"}))
        await runtime.bus.publish(event("s3", payload={"n": "s3-high"}, priority=Priority.HIGH))
        runtime.bus.open_dispatch()
        await idle(runtime)
    finally:
        await runtime.bus.stop()
        await runtime.writer.stop()
        await runtime.db.close()
    # s3's high head goes first; s1's low head blocks its own high event (FIFO per source)
    assert seen == ["s3-high", "s2-normal", "s1-low", "s1-high"]


async def test_a_failing_handler_is_retried_then_dead_lettered_with_the_reason(rt: Runtime) -> None:
    calls: list[int] = []
    good: list[str] = []

    async def bad(e: Event) -> None:
        calls.append(1)
        raise ValueError("receiver exploded")

    async def ok(e: Event) -> None:
        good.append(e.id)

    only_tests = EventFilter(event_types=frozenset({"t"}))
    rt.bus.subscribe("bad", bad, only_tests)
    rt.bus.subscribe("ok", ok, only_tests)
    published = await rt.bus.publish(event())
    await idle(rt)
    assert len(calls) == 3  # first try + max_retries 2
    assert good == [published.event.id]  # the other handler was not held back
    page, _ = await rt.dlq.page(DlqQuery(), None, 10)
    assert len(page) == 1 and page[0].handler == "bad" and "receiver exploded" in page[0].reason
    dump = await rt.event_log.get(published.event.id)
    assert dump is not None and dump["status"] == "done"
    steps = [(s["step"], s["handler"]) for s in dump["steps"]]
    assert ("dead_lettered", "bad") in steps and ("handler_ok", "ok") in steps
    assert steps.count(("handler_failed", "bad")) == 3
    assert {d["handler"]: d["status"] for d in dump["deliveries"]} == {"bad": "dead", "ok": "ok"}


async def test_a_slow_handler_times_out_without_blocking_others(
        make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**{**FAST, "event_bus.max_retries": 0}))
    await runtime.start()
    try:
        fast: list[str] = []

        async def slow(e: Event) -> None:
            await hang()

        async def quick(e: Event) -> None:
            fast.append(e.id)

        only_tests = EventFilter(event_types=frozenset({"t"}))
        runtime.bus.subscribe("slow", slow, only_tests, timeout=0.05)
        runtime.bus.subscribe("quick", quick, only_tests)
        result = await runtime.bus.publish(event())
        await idle(runtime)
        assert fast == [result.event.id]
        assert await runtime.dlq.depth() == 1
    finally:
        await runtime.stop()


async def test_expired_events_are_not_delivered_and_say_so(rt: Runtime) -> None:
    got: list[Event] = []

    async def handler(e: Event) -> None:
        got.append(e)

    rt.bus.subscribe("h", handler)
    old = Event.create(source="test:a", event_type="t", ttl_ms=10, now_ms=rt.clock.now_ms() - 1000)
    await rt.bus.publish(old)
    await idle(rt)
    assert got == []
    dump = await rt.event_log.get(old.id)
    assert dump is not None and dump["status"] == "expired"
    assert [s["step"] for s in dump["steps"]] == ["accepted", "expired"]


async def test_fifty_racing_pushes_with_one_key_yield_one_event(rt: Runtime) -> None:
    delivered: list[str] = []

    async def handler(e: Event) -> None:
        delivered.append(e.id)

    rt.bus.subscribe("h", handler, EventFilter(event_types=frozenset({"dedup"})))
    results = await asyncio.gather(*(rt.bus.publish(event(event_type="dedup", dedup_key="same"))
                                     for _ in range(50)))
    await idle(rt)
    originals = {r.event.id for r in results}
    assert len(originals) == 1 and sum(not r.duplicate for r in results) == 1
    assert delivered == list(originals)
    assert rt.bus.stats.duplicates == 49


async def test_dedup_survives_a_restart(make_settings: SettingsFactory) -> None:
    first = Runtime(make_settings())
    await first.start()
    original = await first.bus.publish(event(dedup_key="k"))
    await first.stop()
    second = Runtime(make_settings())
    await second.start()
    try:
        again = await second.bus.publish(event(dedup_key="k"))
        assert again.duplicate and again.event.id == original.event.id
    finally:
        await second.stop()


@pytest.mark.parametrize(
    ("pending", "level"),
    [(0, Level.NORMAL), (79, Level.NORMAL), (80, Level.L1), (90, Level.L2), (95, Level.L3),
     (98, Level.L4), (100, Level.CRITICAL)],
)
def test_levels_follow_queue_fill(pending: int, level: Level) -> None:
    assert level_for(pending, 100) is level


async def test_backpressure_demotes_drops_and_refuses_by_level(
        make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**{"event_bus.max_queue_size": 100}))
    await runtime.db.open()
    from aman.store.migrate import migrate
    await migrate(runtime.db)
    await runtime.writer.start()
    await runtime.bus.start()  # dispatch stays closed: the queue only fills
    levels: list[tuple[Level, Level]] = []
    runtime.bus.on_level_change = lambda before, after: levels.append((before, after))
    try:
        for _ in range(80):
            await runtime.bus.publish(event(source=f"s{_}"))
        assert runtime.bus.level is Level.L1
        demoted = await runtime.bus.publish(event(priority=Priority.HIGH,
                                                  delivery=Delivery.AT_MOST_ONCE))
        assert demoted.event.priority is Priority.NORMAL
        for n in range(10):
            await runtime.bus.publish(event(source=f"t{n}"))
        assert runtime.bus.level is Level.L2
        dropped = await runtime.bus.publish(event(delivery=Delivery.AT_MOST_ONCE))
        assert dropped.dropped == "backpressure_l2" and runtime.bus.stats.discarded == 1
        for n in range(4):
            await runtime.bus.publish(event(source=f"u{n}"))
        assert runtime.bus.level is Level.L3
        with pytest.raises(BackpressureError) as info:
            await runtime.bus.publish(event())
        assert info.value.retry_after >= 1
        internal = await runtime.bus.publish(event(), internal=True)  # the runtime's own facts pass
        assert internal.event.seq > 0
        assert [after for _, after in levels] == [Level.L1, Level.L2, Level.L3]
    finally:
        await runtime.bus.stop()
        await runtime.writer.stop()
        await runtime.db.close()


@pytest.mark.parametrize("rt",
                         [{"event_bus.rate_limit_per_sec": 1, "event_bus.rate_limit_burst": 3}],
                         indirect=True)
async def test_rate_limit_per_source(rt: Runtime) -> None:
    for _ in range(3):
        await rt.bus.publish(event(source="chatty"))
    with pytest.raises(RateLimitedError) as info:
        await rt.bus.publish(event(source="chatty"))
    assert 0 < info.value.retry_after <= 1.0
    await rt.bus.publish(event(source="quiet"))  # other sources are unaffected


async def test_accepted_events_survive_a_stop_before_dispatch(
        make_settings: SettingsFactory) -> None:
    """Recovery: guaranteed events that were accepted but not delivered are re-queued at boot."""
    runtime = Runtime(make_settings())
    await runtime.db.open()
    from aman.store.migrate import migrate
    await migrate(runtime.db)
    await runtime.writer.start()
    await runtime.bus.start()
    ids = [(await runtime.bus.publish(event(source=f"s{n % 3}"))).event.id for n in range(20)]
    lost = await runtime.bus.publish(event(delivery=Delivery.AT_MOST_ONCE))
    await runtime.bus.stop()  # no dispatch ever happened: like a crash right after accepting
    await runtime.writer.stop()
    await runtime.db.close()

    revived = Runtime(make_settings())
    seen: list[str] = []

    async def handler(e: Event) -> None:
        seen.append(e.id)

    # Only the test's own events: boot also emits runtime facts (skill_reloaded).
    revived.bus.subscribe("h", handler, ONLY_TEST_EVENTS)
    await revived.start()
    try:
        await idle(revived)
        assert sorted(seen) == sorted(ids)
        dump = await revived.event_log.get(lost.event.id)
        assert dump is not None and dump["status"] == "dropped"
    finally:
        await revived.stop()


async def test_recovery_skips_handlers_that_already_finished(
        make_settings: SettingsFactory) -> None:
    """At least once: a handler cut short by the crash runs again (exactly-once deliveries are
    parked instead: tests/events/test_exactly_once.py)."""
    runtime = Runtime(make_settings(**{"runtime.drain_timeout_sec": 0.5}))
    calls = {"a": 0, "b": 0}

    async def a(e: Event) -> None:
        calls["a"] += 1

    gate = asyncio.Event()

    async def b(e: Event) -> None:
        calls["b"] += 1
        await gate.wait()

    runtime.bus.subscribe("a", a, ONLY_TEST_EVENTS)
    runtime.bus.subscribe("b", b, ONLY_TEST_EVENTS)
    await runtime.start()
    published = await runtime.bus.publish(event(delivery=Delivery.AT_LEAST_ONCE))
    await wait_for(lambda: calls["b"], what="handler b to start")
    # Simulate a crash: stop while b is still running (the drain gives up on it).
    await runtime.bus.drain(0.05)
    await runtime.stop()

    revived = Runtime(make_settings())
    again = count_deliveries(revived, ["a", "b"], ONLY_TEST_EVENTS)
    await revived.start()
    try:
        await idle(revived)
        assert again == {"a": 0, "b": 1}  # a completed before the crash; only b runs again
        dump = await revived.event_log.get(published.event.id)
        assert dump is not None and dump["status"] == "done"
    finally:
        await revived.stop()


async def test_publish_refused_once_intake_is_closed(rt: Runtime) -> None:
    rt.bus.close_intake()
    with pytest.raises(NotReadyError):
        await rt.bus.publish(event())


async def test_subscribe_returns_its_own_undo(rt: Runtime) -> None:
    got: list[str] = []

    async def handler(e: Event) -> None:
        got.append(e.id)

    undo = rt.bus.subscribe("h", handler)
    await rt.bus.publish(event())
    await idle(rt)
    undo()
    await rt.bus.publish(event())
    await idle(rt)
    assert len(got) == 1 and "h" not in rt.bus.subscriber_names


async def test_manual_dlq_retry_resolves_when_the_handler_recovers(rt: Runtime) -> None:

    healthy = False

    async def flaky(e: Event) -> None:
        if not healthy:
            raise RuntimeError("down")

    rt.bus.subscribe("flaky", flaky, EventFilter(event_types=frozenset({"t"})))
    await rt.bus.publish(event())
    await idle(rt)
    (entry,), _ = await rt.dlq.page(DlqQuery(), None, 10)
    again = await rt.dlq.retry(entry.id, operator="alice")
    assert again.status == "retrying"

    async def parked_again() -> bool:
        return (await rt.dlq.get(entry.id)).status == "active"

    await wait_for(parked_again, what="the failed retry to park the entry again")
    failed = await rt.dlq.get(entry.id)
    assert failed.status == "active" and failed.manual_retries == 1
    healthy = True
    await rt.dlq.retry(entry.id, operator="alice")

    async def resolved_now() -> bool:
        return (await rt.dlq.get(entry.id)).status == "resolved"

    await wait_for(resolved_now, what="the DLQ entry to be resolved")
    resolved = await rt.dlq.get(entry.id)
    assert resolved.status == "resolved" and await rt.dlq.depth() == 0
    assert [h["action"] for h in resolved.history] == ["parked", "retry", "retry", "retry", "retry"]


class _SlowDown(Exception):
    retry_after_sec = 0.3


async def test_a_handler_asking_for_a_delay_is_retried_no_sooner(rt: Runtime) -> None:
    calls: list[float] = []

    async def handler(e: Event) -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise _SlowDown("429 from the platform")

    rt.bus.subscribe("slow", handler, ONLY_TEST_EVENTS)
    await rt.bus.publish(event())
    await idle(rt)
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.3  # the backoff alone is 5 ms
