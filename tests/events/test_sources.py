"""Event sources without a daemon: the timer, pause/resume, configure validation, the registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aman.config.settings import SourcesSettings
from aman.core.lifecycle import TaskTracker
from aman.errors import BackpressureError, NotFoundError, RateLimitedError, ValidationFailedError
from aman.events.model import Delivery, Event, Priority
from aman.events.sources import EventSource, SourceRegistry, SourceState
from aman.events.subscribers import PublishResult
from aman.sources import FileWatchSource, TimerConfig, TimerSource, build_sources
from tests.helpers import FakeBus, ManualClock, hang, wait_for


@pytest.fixture
async def tasks() -> AsyncIterator[TaskTracker]:
    tracker = TaskTracker()
    yield tracker
    await tracker.cancel_all(timeout=2)


def timer(capture: FakeBus, tasks: TaskTracker, interval_ms: int = 100) -> TimerSource:
    return TimerSource("t1", TimerConfig(interval_ms=interval_ms), publish=capture.publish,
                       tasks=tasks)


async def test_a_timer_ticks_as_its_clock_moves(tasks: TaskTracker) -> None:
    clock, capture = ManualClock(), FakeBus()
    source = TimerSource("t1", TimerConfig(interval_ms=1000), publish=capture.publish,
                         tasks=tasks, clock=clock)
    await source.start()
    try:
        await wait_for(lambda: clock.deadlines == [1.0], what="the timer to wait one interval")
        assert capture.published == []
        clock.advance(1)
        await wait_for(lambda: clock.deadlines == [2.0], what="the wait for the next tick")
        assert [e.payload for e in capture.published] == [{"tick": 1}]
        clock.advance(1)
        await wait_for(lambda: len(capture.published) == 2, what="the second tick")
    finally:
        await source.stop()


async def test_timer_ticks_with_its_source_name_priority_and_delivery(tasks: TaskTracker) -> None:
    capture = FakeBus()
    source = timer(capture, tasks)
    await source.start()
    try:
        await wait_for(lambda: len(capture.published) >= 3, timeout=3)
    finally:
        await source.stop()
    first = capture.published[0]
    assert first.source == "timer:t1" and first.event_type == "timer_tick"
    assert first.priority is Priority.LOW and first.delivery is Delivery.AT_MOST_ONCE
    assert [e.payload for e in capture.published[:3]] == [{"tick": 1}, {"tick": 2}, {"tick": 3}]
    assert source.state is SourceState.STOPPED and source.health()["emitted"] >= 3


async def test_a_minute_or_more_is_a_heartbeat(tasks: TaskTracker) -> None:
    event = timer(FakeBus(), tasks, interval_ms=60_000).make_event(7)
    assert event.event_type == "heartbeat" and event.payload == {"heartbeat": True, "tick": 7}
    assert timer(FakeBus(), tasks, interval_ms=59_999).make_event(1).event_type == "timer_tick"


async def test_paused_timer_emits_nothing_and_resume_brings_ticks_back(tasks: TaskTracker) -> None:
    capture = FakeBus()
    source = timer(capture, tasks)
    await source.start()
    try:
        await wait_for(lambda: len(capture.published) >= 1, timeout=3)
        await source.pause()
        await source.pause()  # idempotent
        assert source.state is SourceState.PAUSED
        assert source.health()["status"] == "ok" and "paused" in source.health()["detail"]
        count = len(capture.published)
        await wait_for(lambda: source.stats.suppressed_while_paused >= 3, timeout=3)
        assert len(capture.published) == count
        await source.resume()
        assert source.state is SourceState.RUNNING
        await wait_for(lambda: len(capture.published) > count, timeout=3)
    finally:
        await source.stop()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"interval_ms": 5}, "config.interval_ms"),
        ({"interval_ms": "soon"}, "config.interval_ms"),
        ({"interval": 500}, "config.interval"),
    ],
)
async def test_bad_config_names_the_field_and_changes_nothing(
    tasks: TaskTracker, config: dict[str, Any], field: str
) -> None:
    source = timer(FakeBus(), tasks, interval_ms=100)
    with pytest.raises(ValidationFailedError) as caught:
        await source.configure(config)
    assert f"{field}:" in caught.value.message
    assert caught.value.details["fields"][0]["path"] == field
    assert source.config == {"interval_ms": 100}


async def test_config_that_is_not_an_object_is_refused(tasks: TaskTracker) -> None:
    with pytest.raises(ValidationFailedError, match="JSON object"):
        await timer(FakeBus(), tasks).configure([1, 2])  # type: ignore[arg-type]


async def test_configure_restarts_a_running_timer_at_the_new_interval(tasks: TaskTracker) -> None:
    capture = FakeBus()
    source = timer(capture, tasks, interval_ms=60_000)
    await source.start()
    try:
        await source.configure({"interval_ms": 100})
        assert source.config == {"interval_ms": 100} and source.state is SourceState.RUNNING
        await wait_for(lambda: len(capture.published) >= 2, timeout=3)
        assert capture.published[0].event_type == "timer_tick"
    finally:
        await source.stop()


@pytest.mark.parametrize("error", [BackpressureError("full", retry_after=1.0),
                                   RateLimitedError("slow down", retry_after=1.0)])
async def test_refused_ticks_are_counted_in_health_not_raised(
    tasks: TaskTracker, error: Exception
) -> None:
    capture = FakeBus()
    capture.refuse = error
    source = timer(capture, tasks)
    await source.start()
    try:
        await wait_for(lambda: source.stats.dropped >= 2, timeout=3)
        health = source.health()
        assert health["status"] == "degraded" and health["dropped"] >= 2
        assert str(error) in health["detail"]
        assert source.state is SourceState.RUNNING
        capture.refuse = None  # the bus accepts again: back to ok, the count stays
        await wait_for(lambda: source.health()["status"] == "ok", timeout=3)
        assert source.health()["dropped"] >= 2 and capture.published
    finally:
        await source.stop()


async def test_bus_drops_are_counted_too(tasks: TaskTracker) -> None:
    async def dropping(event: Event) -> PublishResult:
        return PublishResult(event, dropped="backpressure_l2")

    source = TimerSource("t", TimerConfig(interval_ms=100), publish=dropping, tasks=tasks)
    await source.start()
    try:
        await wait_for(lambda: source.stats.dropped >= 1, timeout=3)
        assert "backpressure_l2" in source.health()["detail"]
    finally:
        await source.stop()


# --- registry ------------------------------------------------------------------------------


class Recorder:
    """A minimal source that keeps the protocol and logs starts and stops."""

    type = "fake"

    def __init__(self, source_id: str, log: list[str], *, fail: bool = False,
                 hang: bool = False) -> None:
        self.id = source_id
        self._log = log
        self._fail = fail
        self._hang = hang
        self.state = SourceState.STOPPED
        self.config: dict[str, Any] = {}

    async def start(self) -> None:
        self._log.append(f"start {self.id}")
        if self._fail:
            raise RuntimeError(f"{self.id} cannot start")
        self.state = SourceState.RUNNING

    async def stop(self) -> None:
        self._log.append(f"stop {self.id}")
        if self._hang:
            await hang()
        self.state = SourceState.STOPPED

    async def pause(self) -> None:
        self.state = SourceState.PAUSED

    async def resume(self) -> None:
        self.state = SourceState.RUNNING

    async def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "detail": self.state.value}


async def test_registry_starts_in_order_and_stops_in_reverse() -> None:
    log: list[str] = []
    registry = SourceRegistry(timeout_sec=1)
    for name in ("a", "b", "c"):
        registry.register(Recorder(name, log))
    assert isinstance(registry.get("a"), EventSource)
    await registry.start_all()
    await registry.stop_all()
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_a_source_that_fails_to_start_is_failed_alone() -> None:
    log: list[str] = []
    registry = SourceRegistry(timeout_sec=1)
    registry.register(Recorder("a", log))
    registry.register(Recorder("broken", log, fail=True))
    registry.register(Recorder("c", log))
    await registry.start_all()
    assert log == ["start a", "start broken", "start c"]
    broken = registry.describe("broken")
    assert broken["state"] == "failed" and broken["health"]["status"] == "failed"
    assert "broken cannot start" in broken["health"]["detail"]
    assert [registry.describe(i)["state"] for i in ("a", "c")] == ["running", "running"]
    await registry.stop_all()


async def test_a_stop_that_hangs_is_cut_off_and_the_others_still_stop() -> None:
    log: list[str] = []
    registry = SourceRegistry(timeout_sec=0.1)
    registry.register(Recorder("a", log))
    registry.register(Recorder("stuck", log, hang=True))
    await registry.start_all()
    await asyncio.wait_for(registry.stop_all(), timeout=2)
    assert log[-2:] == ["stop stuck", "stop a"]
    assert registry.get("a").state is SourceState.STOPPED


async def test_registry_lookup_and_ids() -> None:
    registry = SourceRegistry()
    registry.register(Recorder("a", []))
    with pytest.raises(NotFoundError) as caught:
        registry.get("nope")
    assert caught.value.hint == "GET /event-sources lists them."
    with pytest.raises(Exception, match="already registered"):
        registry.register(Recorder("a", []))
    registry.unregister("a")
    assert registry.list() == []


async def test_build_sources_from_settings(tasks: TaskTracker, tmp_path: Any) -> None:
    settings = SourcesSettings.model_validate({
        "file_watch": [{"id": "docs", "paths": [str(tmp_path)], "patterns": ["*.md"]}],
        "timers": [{"id": "beat", "interval_ms": 60_000}],
    })
    built = build_sources(settings, publish=FakeBus().publish, tasks=tasks,
                          clock=ManualClock())
    assert [(s.id, s.type) for s in built] == [("docs", "file_watch"), ("beat", "timer")]
    assert isinstance(built[0], FileWatchSource) and built[0].event_source == "file:docs"
    assert built[0].config["patterns"] == ["*.md"] and built[1].config == {"interval_ms": 60_000}
