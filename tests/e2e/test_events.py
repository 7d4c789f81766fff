"""The event bus through the real daemon.

Push, dedup, DLQ, crash durability, backpressure, limits.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.daemons import Daemon, free_port, push_then_kill
from tests.e2e.gated import HANDLER, PUSH, Gated
from tests.e2e.receiver import Receiver
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()



def forwarder(name: str, url: str, event_types: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "url": url, "event_types": event_types or [], "timeout_sec": 2}


FAST_RETRIES = {"event_bus": {"retry_backoff_ms": [20, 40], "max_retries": 2}}


def test_push_trace_dump_recent_and_types(daemon: Daemon) -> None:
    response = daemon.client.post("/events/push", json={
        "source": "test:e2e", "type": "order.created", "payload": {"n": 1}, "priority": "high",
        "ttl_ms": 60000, "agent_id": "aman"})
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["duplicate"] is False and accepted["id"] and accepted["trace_id"]
    dump = wait_for_sync(lambda: (d := daemon.client.get(f"/events/dump/{accepted['id']}").json())
                    and d.get("status") == "done" and d, what="event done")
    event = dump["event"]
    assert event["event_type"] == "order.created" and event["priority"] == "high"
    assert event["payload"] == {"n": 1} and event["agent_id"] == "aman"
    assert event["metadata"]["ttl_ms"] == 60000
    assert event["metadata"]["trace_id"] == accepted["trace_id"]
    trace = daemon.client.get(f"/events/trace/{accepted['trace_id']}").json()
    assert [s["step"] for s in trace["steps"]][:2] == ["accepted", "dispatched"]
    assert trace["cycle_detected"] is False
    recent = daemon.client.get("/events/recent?limit=5").json()["items"]
    assert accepted["id"] in [e["id"] for e in recent]
    types = {t["event_type"]: t["origin"]
             for t in daemon.client.get("/events/types").json()["items"]}
    assert types["order.created"] == "seen" and types["file_changed"] == "builtin"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"source": " ", "type": "x"}, "body.source"),
     ({"source": "a", "type": "x", "priority": "urgent"}, "body.priority"),
     ({"source": "a", "type": "x", "delivery": "maybe"}, "body.delivery"),
     ({"source": "a"}, "body.event_type"),
     ({"source": "a", "type": "x", "payload": [1]}, "body.payload"),
     ({"source": "a", "type": "x", "ttl_ms": 0}, "body.ttl_ms")],
)
def test_bad_pushes_are_400_naming_the_field(daemon: Daemon, body: dict[str, Any],
                                             field: str) -> None:
    before = daemon.client.get("/events/recent?limit=1000").json()["items"]
    response = daemon.client.post("/events/push", json=body)
    assert response.status_code == 400
    assert field in response.json()["error"]["message"]
    assert daemon.client.get("/events/recent?limit=1000").json()["items"] == before


def test_lookups_and_limits(daemon: Daemon) -> None:
    assert daemon.client.get("/events/recent?limit=1001").status_code == 400
    assert daemon.client.get("/events/dump/nope").json()["error"]["code"] == "not_found"
    assert daemon.client.get("/events/trace/nope").status_code == 404
    refused = daemon.client.post("/inject-event", json={"source": "a", "type": "b"})
    assert refused.json()["error"]["code"] == "debug_disabled"


def test_fifty_racing_pushes_with_one_dedup_key_yield_one_event(daemon: Daemon) -> None:
    key = f"race-{time.time_ns()}"

    def push(_: int) -> httpx.Response:
        with httpx.Client(base_url=daemon.base_url, timeout=10) as client:
            return client.post("/events/push",
                               json={"source": "test:race", "type": "race", "dedup_key": key})

    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(push, range(50)))
    assert sorted(r.status_code for r in responses) == [200] * 49 + [202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.json()["duplicate"] for r in responses) == 49
    recent = daemon.client.get("/events/recent?limit=1000").json()["items"]
    assert sum(1 for e in recent if e["dedup_key"] == key) == 1
    again = daemon.client.post("/events/push", headers={"Idempotency-Key": key},
                               json={"source": "test:race", "type": "race"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    trace_url = f"/events/trace/{again.json()['trace_id']}"
    trace = wait_for_sync(lambda: (t := daemon.client.get(trace_url).json())
                     and [s for s in t["steps"] if s["step"] == "duplicate"],
                     what="duplicate steps")
    assert len(trace) == 50  # 49 racing repeats and the Idempotency-Key one, each on the record


def test_failing_handler_lands_in_the_dlq_and_retry_needs_confirmation(
        start_daemon: Callable[..., Daemon]) -> None:
    port = free_port()  # nothing listens here yet: every POST fails
    daemon = start_daemon(extra_config={**FAST_RETRIES, "forwarders": [
        forwarder("sink", f"http://127.0.0.1:{port}/hook", ["invoice.paid"])]})
    pushed = daemon.client.post("/events/push", json={"source": "billing:x", "type": "invoice.paid",
                                                      "payload": {"amount": 5}}).json()
    entry = wait_for_sync(lambda: daemon.client.get("/dlq").json()["items"], what="DLQ entry")[0]
    assert entry["event_id"] == pushed["id"] and entry["handler"] == "forward:sink"
    assert entry["attempts"] == 3 and "POST http://127.0.0.1" in entry["reason"]
    assert daemon.client.get("/dlq/depth").json() == {"depth": 1}
    trace = daemon.client.get(f"/events/trace/{pushed['trace_id']}").json()
    steps = [s["step"] for s in trace["steps"] if s["event_id"] == pushed["id"]]
    assert steps.count("handler_failed") == 3 and "dead_lettered" in steps

    refused = daemon.client.post(f"/dlq/{entry['id']}/retry")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "confirmation_required"
    unchanged = daemon.client.get(f"/dlq/{entry['id']}").json()
    assert unchanged["status"] == "active" and unchanged["manual_retries"] == 0
    assert len(unchanged["history"]) == 1

    receiver = Receiver(port)  # the receiver comes back
    try:
        accepted = daemon.client.post(f"/dlq/{entry['id']}/retry",
                                      headers={"x-aman-confirm": "yes"})
        assert accepted.status_code == 202 and accepted.json()["status"] == "retrying"
        wait_for_sync(
            lambda: daemon.client.get(f"/dlq/{entry['id']}").json()["status"] == "resolved",
            what="resolved")
        assert receiver.ids() == [pushed["id"]]
        assert daemon.client.get("/dlq/depth").json() == {"depth": 0}
    finally:
        receiver.close()
    audit = daemon.client.get("/audit-log?action=dlq.retry").json()["items"]
    assert [r["outcome"] for r in audit] == ["ok", "confirmation_required"]


def test_manual_retries_stop_at_five_then_discard(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(extra_config={**FAST_RETRIES, "forwarders": [
        forwarder("dead", f"http://127.0.0.1:{free_port()}/hook", ["doomed"])]})
    daemon.client.post("/events/push", json={"source": "test:x", "type": "doomed"})
    entry = wait_for_sync(lambda: daemon.client.get("/dlq").json()["items"], what="DLQ entry")[0]
    confirm = {"x-aman-confirm": "yes"}
    for attempt in range(1, 6):
        assert daemon.client.post(f"/dlq/{entry['id']}/retry", headers=confirm).status_code == 202

        def retried(expected: int = attempt) -> bool:
            e = daemon.client.get(f"/dlq/{entry['id']}").json()
            return bool(e["status"] == "active" and e["manual_retries"] == expected)

        wait_for_sync(retried, what=f"manual retry {attempt} failed")
    final = daemon.client.post(f"/dlq/{entry['id']}/retry", headers=confirm)
    assert final.status_code == 422 and final.json()["error"]["code"] == "unrecoverable"
    discarded = daemon.client.post(f"/dlq/{entry['id']}/discard")
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert daemon.client.get("/dlq").json()["items"] == []
    assert daemon.client.get("/dlq?status=discarded").json()["items"][0]["id"] == entry["id"]
    assert daemon.client.post(f"/dlq/{entry['id']}/discard").status_code == 409
    outcomes = [r["outcome"]
                for r in daemon.client.get("/audit-log?action=dlq.discard").json()["items"]]
    assert outcomes == ["rejected", "ok"]  # newest first


def test_kill_9_while_pushing_loses_no_accepted_event(start_daemon: Callable[..., Daemon],
                                                      receiver: Receiver) -> None:
    config = {"forwarders": [forwarder("sink", receiver.url, ["load"])]}
    daemon = start_daemon(extra_config=config)
    answered = push_then_kill(daemon, at_least=300, timeout=30)

    revived = start_daemon(extra_config=config, home=daemon.home)
    for event_id in answered:
        response = revived.client.get(f"/events/dump/{event_id}")
        assert response.status_code == 200, f"accepted event {event_id} was lost"
    # Every accepted event reaches the subscriber at least once, across the crash.
    wait_for_sync(lambda: set(answered) <= set(receiver.ids()), timeout=30,
             what=f"all {len(answered)} accepted events delivered")


def test_kill_9_while_an_exactly_once_handler_runs_never_runs_it_twice(
        start_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    """The gated plugin's handler notes each run, then waits for a gate file: the daemon is
    killed while it waits. After the restart the delivery is in the DLQ as interrupted and the
    handler did not run again, although the gate is open by then; a DLQ retry runs it once."""
    gated = Gated(tmp_path)
    daemon = start_daemon(extra_config=gated.config)
    pushed = daemon.client.post("/events/push", json=PUSH)
    assert pushed.status_code == 202
    event_id = pushed.json()["id"]
    wait_for_sync(lambda: gated.runs() == [event_id], timeout=30, what="the handler to start")
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(timeout=10)
    gated.open()  # were the handler run again, it would finish at once now

    revived = start_daemon(extra_config=gated.config, home=daemon.home)
    dump = wait_for_sync(
        lambda: (d := revived.client.get(f"/events/dump/{event_id}").json())
        and d.get("status") == "done" and d, timeout=30, what="the event done after the restart")
    assert [(d["handler"], d["status"]) for d in dump["deliveries"]] == [(HANDLER, "dead")]
    (entry,) = revived.client.get("/dlq").json()["items"]
    assert entry["event_id"] == event_id and entry["handler"] == HANDLER
    assert entry["reason"].startswith(
        f"interrupted: the daemon stopped while handler {HANDLER} ran")
    assert gated.runs() == [event_id]  # not run again by the restart

    retried = revived.client.post(f"/dlq/{entry['id']}/retry", headers={"x-aman-confirm": "yes"})
    assert retried.status_code == 202
    wait_for_sync(
        lambda: revived.client.get(f"/dlq/{entry['id']}").json()["status"] == "resolved",
        timeout=30, what="the DLQ retry resolved")
    assert gated.runs() == [event_id, event_id]  # the operator's retry: exactly one more run
    dump = revived.client.get(f"/events/dump/{event_id}").json()
    assert [(d["handler"], d["status"]) for d in dump["deliveries"]] == [(HANDLER, "ok")]


def test_an_overloaded_small_queue_answers_503_and_reports_the_level(
        start_daemon: Callable[..., Daemon], receiver: Receiver) -> None:
    receiver.delay_sec = 0.5
    daemon = start_daemon(extra_config={
        "event_bus": {"max_queue_size": 20, "workers": 1},
        "forwarders": [forwarder("slow", receiver.url, ["flood"])]})
    statuses: list[int] = []
    retry_after = None
    for n in range(40):
        response = daemon.client.post("/events/push",
                                      json={"source": f"flood:{n}", "type": "flood"})
        statuses.append(response.status_code)
        if response.status_code == 503:
            retry_after = response.headers.get("Retry-After")
            assert response.json()["error"]["code"] == "backpressure"
            break
    assert 503 in statuses and retry_after is not None and int(retry_after) >= 1
    debug = daemon.client.get("/debug/metrics").json()
    level = debug["event_bus"]["backpressure_level"]
    # The bus's own level-change facts are queued too, so the queue may go past l3.
    assert level in {"l3", "l4", "critical"}
    metrics = daemon.client.get("/metrics").text
    assert f'aman_backpressure_level_info{{level="{level}"}} 1.0' in metrics
    assert "aman_backpressure_level 0." in metrics or "aman_backpressure_level 1.0" in metrics
    audit = daemon.client.get("/audit-log?action=backpressure.apply").json()["items"]
    assert {r["detail"]["level"] for r in audit} >= {"l1", "l2", "l3"}


def test_per_source_rate_limit_answers_429(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(extra_config={"event_bus": {"rate_limit_per_sec": 1,
                                                      "rate_limit_burst": 2}})
    codes = [daemon.client.post("/events/push", json={"source": "spammy", "type": "x"}).status_code
             for _ in range(3)]
    assert codes == [202, 202, 429]
    limited = daemon.client.post("/events/push", json={"source": "spammy", "type": "x"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert daemon.client.post("/events/push",
                              json={"source": "calm", "type": "x"}).status_code == 202


def test_inject_event_when_debug_endpoints_are_enabled(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(extra_config={"runtime": {"force_enable_debug_endpoints": True}})
    response = daemon.client.post("/inject-event", json={"source": "debug:me", "type": "poke"})
    assert response.status_code == 202
    assert daemon.client.get(f"/events/dump/{response.json()['id']}").status_code == 200
