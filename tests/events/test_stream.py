"""StreamHub: fan-out, filters, lag with a bounded buffer, resumption, and SSE encoding."""

from __future__ import annotations

import asyncio

import pytest

from aman.errors import NotReadyError
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.events.stream import (
    LAG_REPLAY_LIMIT,
    LAG_SLOW_CLIENT,
    Lagged,
    StreamHub,
    families,
    plan_replay,
)
from aman.http import sse
from tests.helpers import FakeBus, hang


class FakeLog:
    """Stored, dispatched events (the replay source)."""

    def __init__(self, events: list[Event] | None = None) -> None:
        self.events = list(events or [])

    async def after(self, seq: int, limit: int) -> list[Event]:
        return [e for e in sorted(self.events, key=lambda e: e.seq) if e.seq > seq][:limit]

    async def max_seq(self) -> int:
        return max((e.seq for e in self.events), default=0)


def make(seq: int, event_type: str = "test.happened", source: str = "test:unit") -> Event:
    return Event.create(source=source, event_type=event_type,
                        payload={"n": seq}).with_changes(seq=seq)


async def hub_on(bus: FakeBus, log: FakeLog | None = None, *, buffer: int = 100,
                 replay_limit: int = 100) -> StreamHub:
    hub = StreamHub(log or FakeLog(), client_buffer=buffer, replay_limit=replay_limit)
    await hub.attach(bus)
    return hub


def seqs(items: list[Event | Lagged]) -> list[int]:
    return [item.seq for item in items if isinstance(item, Event)]


async def test_every_client_gets_every_event_in_dispatch_order() -> None:
    bus = FakeBus()
    hub = await hub_on(bus)
    first, second = hub.connect(), hub.connect()
    for n in (1, 2, 3):
        bus.dispatch(make(n))
    assert seqs(first.take()) == [1, 2, 3]
    assert seqs(second.take()) == [1, 2, 3]
    assert first.take() == []
    assert hub.stats.clients == 2 and hub.stats.connections == 2
    assert hub.last_seq == 3


async def test_filters_by_type_and_source_with_globs() -> None:
    bus = FakeBus()
    hub = await hub_on(bus)
    by_type = hub.connect(EventFilter(event_types=frozenset({"file.*", "exact.one"})))
    by_source = hub.connect(EventFilter(sources=frozenset({"webhook:github"})))
    bus.dispatch(make(1, "file.created", "file:docs"))
    bus.dispatch(make(2, "exact.one", "webhook:github"))
    bus.dispatch(make(3, "exact.other", "webhook:gitlab"))
    bus.dispatch(make(4, "files.created", "webhook:github"))
    assert seqs(by_type.take()) == [1, 2]
    assert seqs(by_source.take()) == [2, 4]


async def test_a_full_buffer_drops_oldest_then_sends_one_lagged_notice_and_continues() -> None:
    bus = FakeBus()
    hub = await hub_on(bus, buffer=3)
    slow, fast = hub.connect(), hub.connect()
    for n in range(1, 11):
        bus.dispatch(make(n))
        assert seqs(fast.take()) == [n]  # the fast client is unaffected
    items = slow.take()
    assert items[0] == Lagged(7, LAG_SLOW_CLIENT)
    assert [i for i in items if isinstance(i, Lagged)] == [items[0]]
    assert seqs(items) == [8, 9, 10]
    later = make(11)
    bus.dispatch(later)
    assert slow.take() == [later]  # continues, without another notice
    assert hub.stats.lagged_drops == 7 and hub.stats.lag_notices == 1


async def test_wait_wakes_on_an_event_and_on_close() -> None:
    bus = FakeBus()
    hub = await hub_on(bus)
    client = hub.connect()
    waiter = asyncio.create_task(client.wait(5.0))
    await asyncio.sleep(0)
    bus.dispatch(make(1))
    await asyncio.wait_for(waiter, 1.0)
    assert seqs(client.take()) == [1]
    waiter = asyncio.create_task(client.wait(5.0))
    await asyncio.sleep(0)
    await hub.stop()
    await asyncio.wait_for(waiter, 1.0)
    assert client.closed and hub.stats.clients == 0


async def test_wait_returns_after_its_timeout() -> None:
    hub = await hub_on(FakeBus())
    client = hub.connect()
    await asyncio.wait_for(client.wait(0.01), 1.0)
    assert client.take() == []


async def test_a_closed_client_leaves_and_gets_nothing_more() -> None:
    bus = FakeBus()
    hub = await hub_on(bus)
    client = hub.connect()
    client.close()
    client.close()  # idempotent
    bus.dispatch(make(1))
    assert client.take() == [] and hub.stats.clients == 0


async def test_stop_unobserves_and_refuses_new_clients_until_attached_again() -> None:
    bus = FakeBus()
    hub = await hub_on(bus)
    await hub.stop()
    assert bus.observers == [] and not hub.attached
    with pytest.raises(NotReadyError):
        hub.connect()
    await hub.attach(bus)
    assert hub.connect() is not None


async def test_attach_starts_positions_at_the_newest_stored_event() -> None:
    hub = await hub_on(FakeBus(), FakeLog([make(41), make(42)]))
    assert hub.last_seq == 42


async def test_one_failing_client_does_not_stop_the_others() -> None:
    bus = FakeBus()
    hub = await hub_on(bus)

    class Broken(EventFilter):
        def matches(self, event: Event) -> bool:
            raise RuntimeError("boom")

    hub.connect(Broken())
    good = hub.connect()
    bus.dispatch(make(1))
    assert seqs(good.take()) == [1]


# --- resumption --------------------------------------------------------------------------


async def test_replay_returns_missed_events_and_live_ones_are_not_repeated() -> None:
    bus = FakeBus()
    log = FakeLog([make(n) for n in range(1, 6)])
    hub = await hub_on(bus, log)
    client = hub.connect()
    bus.dispatch(make(5))  # dispatched after connecting and already stored: in both
    log.events.append(make(6))
    bus.dispatch(make(6))
    replayed = await hub.replay(client, 2)
    assert seqs(replayed) == [3, 4, 5, 6]
    bus.dispatch(make(7))
    assert seqs(client.take()) == [7]


async def test_replay_finds_dispatched_events_not_yet_settled_in_the_store() -> None:
    bus = FakeBus()
    log = FakeLog([make(1)])
    hub = await hub_on(bus, log)
    bus.dispatch(make(2))  # its handlers are still running: not listed by the store yet
    client = hub.connect()
    assert seqs(await hub.replay(client, 1)) == [2]


async def test_replay_finds_an_event_numbered_below_the_last_seen_but_dispatched_after_it(
) -> None:
    # Another daemon's event, or one taken over from a dead daemon, carries a lower number
    # than events this client already saw: it is missed only if it was dispatched before.
    bus = FakeBus()
    hub = await hub_on(bus, FakeLog([]))
    for seq in (1, 4, 2, 5, 3):
        bus.dispatch(make(seq))
    client = hub.connect()
    assert seqs(await hub.replay(client, 4)) == [2, 3, 5]
    assert seqs(await hub.replay(hub.connect(), 5)) == [3]


async def test_replay_after_an_event_seen_twice_starts_from_its_first_sighting() -> None:
    # 5 was dispatched by a daemon that died, then again by the one that took it over: a client
    # that left after the first sighting has not seen 2.
    bus = FakeBus()
    hub = await hub_on(bus, FakeLog([]))
    for seq in (1, 5, 2, 5, 3):
        bus.dispatch(make(seq))
    assert seqs(await hub.replay(hub.connect(), 5)) == [2, 3, 5]


async def test_replay_leaves_out_events_that_were_only_announced() -> None:
    bus = FakeBus()
    hub = await hub_on(bus, FakeLog([]))
    for seq in (1, 2, 0, 3):  # 0: a reply chunk, shown live and never stored
        bus.dispatch(make(seq))
    assert seqs(await hub.replay(hub.connect(), 1)) == [2, 3]


async def test_replay_applies_the_client_filter() -> None:
    bus = FakeBus()
    log = FakeLog([make(1, "a"), make(2, "b"), make(3, "a")])
    hub = await hub_on(bus, log)
    client = hub.connect(EventFilter(event_types=frozenset({"a"})))
    assert seqs(await hub.replay(client, 0)) == [1, 3]


async def test_replay_beyond_the_limit_starts_with_a_notice_counting_what_was_left_out() -> None:
    bus = FakeBus()
    log = FakeLog([make(n) for n in range(1, 11)])
    hub = await hub_on(bus, log, replay_limit=4)
    client = hub.connect()
    items = await hub.replay(client, 0)
    assert items[0] == Lagged(6, LAG_REPLAY_LIMIT)
    assert seqs(items) == [1, 2, 3, 4]


def test_plan_replay_counts_what_it_leaves_out() -> None:
    stored = [make(n) for n in (3, 4, 5)]
    recent = [make(n) for n in (5, 9, 10)]
    lost, events = plan_replay(stored, recent, after=2, limit=3, store_full=True, newest=10,
                               event_filter=EventFilter())
    # 6-8 were neither read from the store nor in the ring; 3-4 fall off the limit.
    assert [e.seq for e in events] == [5, 9, 10]
    assert lost == 3 + 2


def test_plan_replay_within_the_limit_loses_nothing() -> None:
    lost, events = plan_replay([make(3)], [make(3), make(4)], after=2, limit=10,
                               store_full=False, newest=0, event_filter=EventFilter())
    assert lost == 0 and [e.seq for e in events] == [3, 4]


async def test_replay_limit_zero_replays_nothing() -> None:
    hub = await hub_on(FakeBus(), FakeLog([make(1)]), replay_limit=0)
    assert await hub.replay(hub.connect(), 0) == []


async def test_metrics_families_report_the_counters() -> None:
    bus = FakeBus()
    hub = await hub_on(bus, buffer=1)
    client = hub.connect()
    bus.dispatch(make(1))
    bus.dispatch(make(2))
    client.record_sent(2)
    values = {f.name: f.samples[0].value for f in families(hub)}
    assert values["aman_stream_clients"] == 1
    assert values["aman_stream_messages_sent"] == 2
    assert values["aman_stream_lagged_drops"] == 1


# --- SSE encoding ------------------------------------------------------------------------


def test_sse_message_has_id_event_and_data_lines() -> None:
    wire = sse.SseMessage("event:processed", {"a": "x\ny"}, 7).encode()
    assert wire == b'id: 7\nevent: event:processed\ndata: {"a":"x\\ny"}\n\n'


def test_sse_multiline_text_becomes_several_data_lines() -> None:
    assert sse.SseMessage(None, "one\ntwo\r\nthree").encode() == (
        b"data: one\ndata: two\ndata: three\n\n"
    )


def test_sse_refuses_line_breaks_in_fields() -> None:
    with pytest.raises(ValueError):
        sse.SseMessage("bad\nname", {}).encode()


def test_sse_comment() -> None:
    assert sse.comment("keep-alive") == b": keep-alive\n\n"
    assert sse.comment() == b":\n\n"


async def test_pump_sends_keep_alives_when_quiet_and_closes_on_end() -> None:
    calls: list[float] = []
    closed: list[bool] = []

    async def produce(timeout: float) -> list[sse.SseMessage] | None:
        calls.append(timeout)
        if len(calls) == 1:
            return [sse.SseMessage("x", {}, 1)]
        if len(calls) < 4:
            await asyncio.sleep(timeout)
            return []
        return None

    chunks = [c async for c in sse.pump(produce, heartbeat_sec=0.02,
                                        on_close=lambda: closed.append(True))]
    assert chunks[0].startswith(b"id: 1\nevent: x\n")
    assert chunks[1:] == [b": keep-alive\n\n", b": keep-alive\n\n"]
    assert closed == [True]


async def test_pump_runs_on_close_when_closed_after_a_message() -> None:
    closed: list[bool] = []

    async def produce(timeout: float) -> list[sse.SseMessage] | None:
        return [sse.SseMessage("x", {})]

    gen = sse.pump(produce, heartbeat_sec=5, on_close=lambda: closed.append(True))
    assert (await gen.__anext__()).startswith(b"event: x")
    await gen.aclose()
    assert closed == [True]


async def test_pump_runs_on_close_when_cancelled_while_waiting() -> None:
    """A client disconnect: Quart cancels the response task while the producer waits."""
    closed: list[bool] = []
    waiting = asyncio.Event()

    async def produce(timeout: float) -> list[sse.SseMessage] | None:
        waiting.set()
        await hang()
        return None

    gen = sse.pump(produce, heartbeat_sec=5, on_close=lambda: closed.append(True))
    task = asyncio.create_task(gen.__anext__())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]
