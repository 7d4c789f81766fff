"""Exactly-once deliveries through a real Runtime on a temp SQLite file: committed ``running``
before the handler runs, ``failed`` while a retry waits, ``ok`` or ``dead`` once settled, and
parked in the DLQ as interrupted, never run again, when the daemon stopped while they ran."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aman.core.runtime import Runtime
from aman.events.filters import EventFilter
from aman.events.model import Delivery, DlqEntry, DlqQuery, Event
from tests.helpers import SettingsFactory, count_deliveries, wait_for

FAST = {"event_bus.retry_backoff_ms": [5, 10], "event_bus.max_retries": 2,
        "runtime.drain_timeout_sec": 0.5}
#: Test handlers see only events made by ``event()``, not the runtime's own facts.
ONLY_TEST_EVENTS = EventFilter(event_types=frozenset({"t"}))
ONCE = Delivery.EXACTLY_ONCE


@pytest.fixture
async def rt(make_settings: SettingsFactory) -> AsyncIterator[Runtime]:
    runtime = Runtime(make_settings(**FAST))
    await runtime.start()
    yield runtime
    await runtime.stop()


def event(**kw: Any) -> Event:
    return Event.create(source="test:once", event_type="t", **kw)


async def idle(runtime: Runtime) -> None:
    """Wait until the bus has nothing left to do and its writes are committed."""
    await asyncio.wait_for(runtime.bus.wait_idle(), 10)
    await runtime.writer.flush()


async def deliveries(runtime: Runtime, event_id: str) -> dict[str, tuple[str, int]]:
    """The event's stored deliveries: handler -> (status, attempts)."""
    dump = await runtime.event_log.get(event_id)
    assert dump is not None
    return {d["handler"]: (d["status"], d["attempts"]) for d in dump["deliveries"]}


async def status_of(runtime: Runtime, event_id: str) -> str:
    dump = await runtime.event_log.get(event_id)
    assert dump is not None
    return str(dump["status"])


async def crash(runtime: Runtime) -> None:
    """Stop while handlers still run: the drain gives up on them and they are cancelled."""
    await runtime.bus.drain(0.05)
    await runtime.stop()


async def dlq_entries(runtime: Runtime) -> list[DlqEntry]:
    page, _ = await runtime.dlq.page(DlqQuery(), None, 50)
    return page


@pytest.mark.parametrize(("delivery", "while_running"), [
    (Delivery.EXACTLY_ONCE, {"h": ("running", 1)}),
    (Delivery.AT_LEAST_ONCE, {}),  # no extra write for the other guarantees
])
async def test_a_delivery_is_committed_running_before_its_handler_runs_only_if_exactly_once(
        rt: Runtime, delivery: Delivery, while_running: dict[str, tuple[str, int]]) -> None:
    seen: list[dict[str, tuple[str, int]]] = []

    async def handler(e: Event) -> None:
        seen.append(await deliveries(rt, e.id))

    rt.bus.subscribe("h", handler, ONLY_TEST_EVENTS)
    published = await rt.bus.publish(event(delivery=delivery))
    await idle(rt)
    assert seen == [while_running]
    assert await deliveries(rt, published.event.id) == {"h": ("ok", 1)}
    assert await status_of(rt, published.event.id) == "done"


async def test_each_retry_of_an_exactly_once_delivery_runs_again_after_a_failure(
        rt: Runtime) -> None:
    seen: list[dict[str, tuple[str, int]]] = []

    async def flaky(e: Event) -> None:
        seen.append(await deliveries(rt, e.id))
        if len(seen) < 3:
            raise RuntimeError("not yet")

    rt.bus.subscribe("flaky", flaky, ONLY_TEST_EVENTS)
    published = await rt.bus.publish(event(delivery=ONCE))
    await idle(rt)
    assert seen == [{"flaky": ("running", n)} for n in (1, 2, 3)]
    assert await deliveries(rt, published.event.id) == {"flaky": ("ok", 3)}
    assert await dlq_entries(rt) == []


async def test_an_exactly_once_delivery_that_keeps_failing_is_dead(rt: Runtime) -> None:
    async def broken(e: Event) -> None:
        raise RuntimeError("always")

    rt.bus.subscribe("broken", broken, ONLY_TEST_EVENTS)
    published = await rt.bus.publish(event(delivery=ONCE))
    await idle(rt)
    assert await deliveries(rt, published.event.id) == {"broken": ("dead", 3)}
    (entry,) = await dlq_entries(rt)
    assert entry.handler == "broken" and "always" in entry.reason
    # A manual retry that fails again leaves the delivery dead, as its entry is active again.
    await rt.dlq.retry(entry.id, operator="alice")

    async def active_again() -> bool:
        return (await rt.dlq.get(entry.id)).status == "active"

    await wait_for(active_again, what="the failed manual retry to return the entry")
    await rt.writer.flush()
    assert await deliveries(rt, published.event.id) == {"broken": ("dead", 3)}


class _Later(Exception):
    """A failure asking for a retry far later: the crash comes during the backoff."""

    retry_after_sec = 600.0


async def test_a_failure_waiting_for_its_retry_is_failed_and_runs_again_after_a_crash(
        make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**FAST))
    calls: list[int] = []

    async def later(e: Event) -> None:
        calls.append(1)
        raise _Later("the platform asked to wait")

    runtime.bus.subscribe("h", later, ONLY_TEST_EVENTS)
    await runtime.start()
    published = await runtime.bus.publish(event(delivery=ONCE))
    event_id = published.event.id

    async def failed() -> bool:
        return await deliveries(runtime, event_id) == {"h": ("failed", 1)}

    await wait_for(failed, what="the delivery recorded failed while its retry waits")
    await crash(runtime)
    assert calls == [1]

    revived = Runtime(make_settings(**FAST))
    again: list[str] = []

    async def works(e: Event) -> None:
        again.append(e.id)

    revived.bus.subscribe("h", works, ONLY_TEST_EVENTS)
    await revived.start()
    try:
        await idle(revived)
        assert again == [event_id]  # not interrupted: it had failed, so it simply runs again
        assert await deliveries(revived, event_id) == {"h": ("ok", 1)}
        assert await status_of(revived, event_id) == "done"
        assert await dlq_entries(revived) == []
    finally:
        await revived.stop()


async def test_recovery_parks_an_interrupted_delivery_in_the_dlq_and_a_retry_runs_it_once(
        make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**FAST))
    calls = {"a": 0, "b": 0}
    gate = asyncio.Event()

    async def a(e: Event) -> None:
        calls["a"] += 1

    async def b(e: Event) -> None:
        calls["b"] += 1
        await gate.wait()

    runtime.bus.subscribe("a", a, ONLY_TEST_EVENTS)
    runtime.bus.subscribe("b", b, ONLY_TEST_EVENTS)
    await runtime.start()
    published = await runtime.bus.publish(event(delivery=ONCE))
    event_id = published.event.id

    async def b_running_a_done() -> bool:
        return await deliveries(runtime, event_id) == {"a": ("ok", 1), "b": ("running", 1)}

    await wait_for(b_running_a_done, what="a settled and b committed running")
    await crash(runtime)
    assert calls == {"a": 1, "b": 1}

    revived = Runtime(make_settings(**FAST))
    again = count_deliveries(revived, ["a", "b"], ONLY_TEST_EVENTS)
    await revived.start()
    try:
        await idle(revived)
        assert again == {"a": 0, "b": 0}  # a had finished; b may have taken effect: neither runs
        assert await status_of(revived, event_id) == "done"
        assert await deliveries(revived, event_id) == {"a": ("ok", 1), "b": ("dead", 1)}
        (entry,) = await dlq_entries(revived)
        assert entry.handler == "b" and entry.event.id == event_id and entry.attempts == 1
        assert entry.reason.startswith("interrupted: the daemon stopped while handler b ran")
        assert "retry from the DLQ" in entry.reason
        dump = await revived.event_log.get(event_id)
        assert dump is not None
        steps = [(s["step"], s["handler"]) for s in dump["steps"]]
        assert ("interrupted", "b") in steps and ("dead_lettered", "b") in steps
        requeued = next(s for s in dump["steps"] if s["step"] == "requeued")
        assert requeued["detail"] == {"settled_handlers": ["a"], "interrupted_handlers": ["b"]}

        # The operator's retry is a deliberate second run: b runs once, the entry resolves.
        await revived.dlq.retry(entry.id, operator="alice")

        async def resolved() -> bool:
            return (await revived.dlq.get(entry.id)).status == "resolved"

        await wait_for(resolved, what="the DLQ retry to resolve the entry")
        await idle(revived)
        assert again == {"a": 0, "b": 1}
        assert await deliveries(revived, event_id) == {"a": ("ok", 1), "b": ("ok", 1)}
    finally:
        await revived.stop()


async def test_an_interrupted_delivery_of_an_event_expired_since_is_parked_too(
        make_settings: SettingsFactory) -> None:
    runtime = Runtime(make_settings(**FAST))

    async def stuck(e: Event) -> None:
        await asyncio.Event().wait()

    runtime.bus.subscribe("stuck", stuck, ONLY_TEST_EVENTS)
    await runtime.start()
    published = await runtime.bus.publish(event(delivery=ONCE, ttl_ms=300))
    event_id = published.event.id

    async def running() -> bool:
        return await deliveries(runtime, event_id) == {"stuck": ("running", 1)}

    await wait_for(running, what="the delivery committed running")
    await crash(runtime)
    await wait_for(lambda: published.event.expired(runtime.clock.now_ms()),
                   what="the event's ttl to pass")

    revived = Runtime(make_settings(**FAST))
    revived.bus.subscribe("stuck", stuck, ONLY_TEST_EVENTS)
    await revived.start()
    try:
        await idle(revived)
        assert await status_of(revived, event_id) == "expired"
        (entry,) = await dlq_entries(revived)
        assert entry.handler == "stuck" and entry.reason.startswith("interrupted:")
    finally:
        await revived.stop()
