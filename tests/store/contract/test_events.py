"""Event log contract: what the bus writes (events, steps, deliveries, dedup keys, statuses) and
what the routes, the stream's replay and retention read back."""

from __future__ import annotations

import time

import pytest

from aman.errors import StoreError
from aman.events.model import Delivery, Event
from aman.events.ports import EventStore
from tests.store.contract.backends import Backend, Repositories

NOW = time.time_ns() // 1_000_000


def event(seq: int, *, delivery: Delivery = Delivery.AT_LEAST_ONCE, parent: Event | None = None,
          dedup_key: str | None = None, event_type: str = "test.happened",
          created_at: int | None = None) -> Event:
    """A stored-shaped event (``max_retries`` filled, as the bus does before storing)."""
    made = Event.create(source="test:contract", event_type=event_type, payload={"n": seq, "é": [1]},
                        delivery=delivery, parent=parent, dedup_key=dedup_key, max_retries=3,
                        now_ms=created_at if created_at is not None else NOW + seq)
    return made.with_changes(seq=seq)


async def append_all(log: EventStore, *events: Event) -> None:
    for e in events:
        await log.append(e, durable=True, dedup_expires_at=None)


async def test_an_empty_log(store: Repositories) -> None:
    assert await store.events.max_seq() == 0
    assert await store.events.claim_pending("me", [], 1000) == []
    assert await store.events.recent(10) == []
    assert await store.events.get("nope") is None
    assert await store.events.after(0, 10) == []
    assert await store.events.event_types() == []
    assert await store.events.parents([]) == {}


async def test_a_durable_append_is_readable_at_once_with_its_accepted_step(
        store: Repositories) -> None:
    first = event(1)
    await store.events.append(first, durable=True, dedup_expires_at=None)
    assert await store.events.max_seq() == 1
    found = await store.events.get(first.id)
    assert found is not None
    assert found["event"] == first.to_json() and found["status"] == "pending"
    assert [(s["step"], s["handler"], s["detail"]) for s in found["steps"]] == [
        ("accepted", None, {"seq": 1})]
    assert found["deliveries"] == []


async def test_a_queued_append_is_committed_in_order(store: Repositories) -> None:
    events = [event(seq) for seq in (1, 2, 3)]
    for e in events:
        await store.events.append(e, durable=False, dedup_expires_at=None)
    await store.settle()
    assert await store.events.max_seq() == 3
    assert [u.event for u in await store.events.claim_pending("me", [], 1000)] == events


async def test_an_event_claimed_for_another_is_taken_by_naming_that_claimant(
        store: Repositories) -> None:
    handed = event(1)
    await store.events.append(handed, durable=True, dedup_expires_at=None,
                              claimant="role/channel_outbox")
    taken = await store.events.claim_pending("me", ["role/channel_outbox"], 1000)
    assert [u.event for u in taken] == [handed]
    assert await store.events.release_claims("me") == 1  # claimed by the taker now


async def test_an_event_id_is_stored_once(store: Repositories) -> None:
    first = event(1, dedup_key="k")
    await store.events.append(first, durable=True, dedup_expires_at=NOW + 1000)
    with pytest.raises(StoreError):
        await store.events.append(first.with_changes(seq=2, dedup_key="k2"), durable=True,
                                  dedup_expires_at=NOW + 1000)
    assert await store.events.max_seq() == 1
    assert await store.events.dedup_lookup("k2", NOW) is None
    found = await store.events.get(first.id)
    assert found is not None and [s["step"] for s in found["steps"]] == ["accepted"]


async def test_claiming_lists_guaranteed_events_with_their_settled_handlers(
        store: Repositories) -> None:
    a, b, c, d = event(1), event(2), event(3, delivery=Delivery.AT_MOST_ONCE), event(4)
    await append_all(store.events, a, b, c, d)
    await store.events.record_delivery(a, "h1", "ok", 1, durable=True)
    await store.events.record_delivery(a, "h2", "dead", 4, durable=False)
    store.events.mark_status(b, "done")
    await store.settle()
    pending = await store.events.claim_pending("me", [], 1000)
    assert pending == [(a, {"h1", "h2"}, {}), (d, set(), {})]
    # An at-most-once event left pending by a crash is dropped, never delivered late.
    dropped = await store.events.get(c.id)
    assert dropped is not None and dropped["status"] == "dropped"


async def test_claiming_tells_settled_running_and_failed_deliveries_apart(
        store: Repositories) -> None:
    """An exactly-once delivery is ``running`` while its handler runs and ``failed`` while a retry
    waits: a claim returns the running ones (with their attempt) apart from the settled ones, and
    neither for a failed one, which is delivered again."""
    a, b = event(1, delivery=Delivery.EXACTLY_ONCE), event(2, delivery=Delivery.EXACTLY_ONCE)
    await append_all(store.events, a, b)
    await store.events.record_delivery(a, "done", "running", 1, durable=True)
    await store.events.record_delivery(a, "done", "ok", 1, durable=True)
    await store.events.record_delivery(a, "parked", "dead", 4, durable=True)
    await store.events.record_delivery(a, "cut", "running", 1, durable=True)
    await store.events.record_delivery(a, "cut-later", "failed", 1, durable=True)
    await store.events.record_delivery(a, "cut-later", "running", 2, durable=True)
    await store.events.record_delivery(a, "waiting", "running", 1, durable=True)
    await store.events.record_delivery(a, "waiting", "failed", 1, durable=True)
    await store.events.record_delivery(b, "waiting", "failed", 3, durable=True)
    pending = await store.events.claim_pending("me", [], 1000)
    assert pending == [(a, {"done", "parked"}, {"cut": 1, "cut-later": 2}), (b, set(), {})]
    assert pending[0].event == a and pending[0].settled == {"done", "parked"}
    assert pending[0].running == {"cut": 1, "cut-later": 2}
    found = await store.events.get(a.id)
    assert found is not None
    assert [(d["handler"], d["status"], d["attempts"]) for d in found["deliveries"]] == [
        ("cut", "running", 1), ("cut-later", "running", 2), ("done", "ok", 1),
        ("parked", "dead", 4), ("waiting", "failed", 1)]


async def test_a_dead_daemons_running_deliveries_come_with_its_claims(
        store: Repositories) -> None:
    """Taking over a dead daemon's event returns the deliveries it was running."""
    a = event(1, delivery=Delivery.EXACTLY_ONCE)
    await append_all(store.events, a)
    assert await store.events.claim_pending("dead", [], 1000) == [(a, set(), {})]
    await store.events.record_delivery(a, "h", "running", 1, durable=True)
    await store.events.record_delivery(a, "g", "ok", 1, durable=True)
    assert await store.events.claim_pending("survivor", ["dead"], 1000) == [
        (a, {"g"}, {"h": 1})]


async def test_a_delivery_recorded_again_replaces_the_first(store: Repositories) -> None:
    a = event(1)
    await append_all(store.events, a)
    await store.events.record_delivery(a, "h", "dead", 4, durable=True)
    await store.events.record_delivery(a, "h", "ok", 5, durable=True)
    found = await store.events.get(a.id)
    assert found is not None
    assert [(d["handler"], d["status"], d["attempts"]) for d in found["deliveries"]] == [
        ("h", "ok", 5)]
    assert isinstance(found["deliveries"][0]["updated_at"], int)


async def test_steps_keep_their_order_handler_and_detail(store: Repositories) -> None:
    a = event(1)
    await append_all(store.events, a)
    store.events.record_step(a, "dispatched")
    store.events.record_step(a, "handler_failed", handler="h", detail={"error": "boom"})
    store.events.record_step_of(a.id, "dlq_retry", {"by": "alice"})
    store.events.record_step_of("unknown-event", "dlq_retry", {"by": "alice"})
    await store.settle()
    found = await store.events.get(a.id)
    assert found is not None
    assert [(s["event_id"], s["step"], s["handler"], s["detail"]) for s in found["steps"]] == [
        (a.id, "accepted", None, {"seq": 1}), (a.id, "dispatched", None, None),
        (a.id, "handler_failed", "h", {"error": "boom"}),
        (a.id, "dlq_retry", None, {"by": "alice"})]
    assert all(isinstance(s["ts_ms"], int) for s in found["steps"])


async def test_a_dedup_key_holds_until_its_window_closes(store: Repositories) -> None:
    a, b = event(1, dedup_key="k1"), event(2, dedup_key="k2")
    await store.events.append(a, durable=True, dedup_expires_at=NOW + 1000)
    await store.events.append(b, durable=True, dedup_expires_at=None)
    assert await store.events.dedup_lookup("k1", NOW) == a.id
    assert await store.events.dedup_lookup("k1", NOW + 1000) is None
    assert await store.events.dedup_lookup("k2", NOW) is None
    c = event(3, dedup_key="k1")
    await store.events.append(c, durable=True, dedup_expires_at=NOW + 5000)
    assert await store.events.dedup_lookup("k1", NOW + 2000) == c.id


async def test_recent_trace_parents_and_types(store: Repositories) -> None:
    root = event(1)
    child = event(2, parent=root, event_type="test.followed")
    other = event(3)
    await append_all(store.events, root, child, other)
    store.events.record_step(child, "dispatched")
    store.events.mark_status(root, "done")
    await store.settle()
    recent = await store.events.recent(2)
    assert [(r["id"], r["status"]) for r in recent] == [(other.id, "pending"),
                                                       (child.id, "pending")]
    assert recent[0] == {**other.to_json(), "status": "pending"}
    events, steps = await store.events.trace(root.trace_id)
    assert [(e["id"], e["status"]) for e in events] == [(root.id, "done"), (child.id, "pending")]
    assert [(s["event_id"], s["step"]) for s in steps] == [
        (root.id, "accepted"), (child.id, "accepted"), (child.id, "dispatched")]
    assert await store.events.trace("no-such-trace") == ([], [])
    assert await store.events.parents([root.id, child.id, "missing"]) == {
        root.id: None, child.id: root.id}
    assert sorted(await store.events.event_types()) == ["test.followed", "test.happened"]


async def test_after_replays_dispatched_events_in_order(store: Repositories) -> None:
    events = [event(seq) for seq in range(1, 6)]
    await append_all(store.events, *events)
    for e in events[:4]:
        store.events.mark_status(e, "done")
    await store.settle()
    assert await store.events.after(0, 10) == events[:4]
    assert await store.events.after(1, 2) == events[1:3]
    assert await store.events.after(4, 10) == []


async def test_prune_drops_old_finished_events_and_keeps_pending_ones(
        store: Repositories) -> None:
    old_done = event(1, created_at=NOW - 10_000)
    old_pending = event(2, created_at=NOW - 9_000)
    new_done = event(3, created_at=NOW)
    await append_all(store.events, old_done, old_pending, new_done)
    await store.events.record_delivery(old_done, "h", "ok", 1, durable=True)
    store.events.mark_status(old_done, "done")
    store.events.mark_status(new_done, "done")
    await store.settle()
    await store.events.prune(older_than_ms=NOW - 5_000, keep_max=100)
    assert await store.events.get(old_done.id) is None
    assert await store.events.get(old_pending.id) is not None
    assert await store.events.get(new_done.id) is not None
    events, steps = await store.events.trace(old_done.trace_id)
    assert events == [] and steps == []
    assert await store.events.max_seq() == 3


async def test_prune_keeps_at_most_keep_max_newest(store: Repositories) -> None:
    events = [event(seq) for seq in range(1, 7)]
    await append_all(store.events, *events)
    for e in events:
        store.events.mark_status(e, "done")
    await store.settle()
    await store.events.prune(older_than_ms=0, keep_max=2)
    assert [r["id"] for r in await store.events.recent(10)] == [events[5].id, events[4].id]


async def test_prune_forgets_dedup_keys_whose_window_closed(store: Repositories) -> None:
    a = event(1, dedup_key="gone", created_at=NOW - 10_000)
    b = event(2, dedup_key="kept")
    await store.events.append(a, durable=True, dedup_expires_at=NOW - 1)
    await store.events.append(b, durable=True, dedup_expires_at=NOW + 3_600_000)
    store.events.mark_status(a, "done")
    await store.settle()
    assert await store.events.dedup_lookup("gone", NOW - 1000) == a.id
    await store.events.prune(older_than_ms=NOW - 5_000, keep_max=100)
    assert await store.events.dedup_lookup("gone", NOW - 1000) is None
    assert await store.events.dedup_lookup("kept", NOW) == b.id


async def test_the_log_survives_a_restart(store_backend: Backend, store: Repositories) -> None:
    a, b = event(1), event(2)
    await append_all(store.events, a, b)
    await store.events.record_delivery(a, "h", "ok", 1, durable=True)
    reopened = await store_backend.reopen()
    assert await reopened.events.max_seq() == 2
    assert await reopened.events.claim_pending("me", [], 1000) == [(a, {"h"}, {}), (b, set(), {})]
