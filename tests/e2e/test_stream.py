"""GET /events/stream (SSE) through the real daemon: order, resumption, snapshots, auth, filters."""

from __future__ import annotations

import contextlib
import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.daemons import TEST_TOKEN, Daemon

pytestmark = pytest.mark.e2e

#: Longest a read may block; snapshots arrive every 2 s by default, so a stream is never quiet.
READ_TIMEOUT_SEC = 6.0


@dataclass
class Message:
    """One SSE message."""

    event: str | None
    id: str | None
    data: str

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class SseReader:
    """An open /events/stream response, read message by message."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.comments: list[str] = []
        self._lines = response.iter_lines()
        self._first: Message | None = None

    def wait_connected(self) -> None:
        """Block until the first message (kept for ``next``): the client is registered then."""
        self._first = self.next()
        assert self._first is not None, "the stream ended at once"

    def next(self) -> Message | None:
        """The next message, or None when the stream ended."""
        if self._first is not None:
            first, self._first = self._first, None
            return first
        fields: dict[str, list[str]] = {}
        for line in self._lines:
            if line == "":
                if fields:
                    return Message(fields.get("event", [None])[-1], fields.get("id", [None])[-1],
                                   "\n".join(fields.get("data", [])))
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        return None

    def until(self, predicate: Callable[[Message], bool], timeout: float = 10.0) -> list[Message]:
        """Read until a message satisfies ``predicate``; return everything read, that one last."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            message = self.next()
            assert message is not None, f"stream ended early after {seen}"
            seen.append(message)
            if predicate(message):
                return seen
        raise AssertionError(f"no matching message within {timeout}s; read {seen}")

    def events(self, count: int, timeout: float = 10.0) -> list[Message]:
        """The next ``count`` event:processed messages (snapshots in between are skipped)."""
        found: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {len(found)} of {count} events arrived"
            message = self.next()
            assert message is not None, f"stream ended after {len(found)} of {count} events"
            if message.event == "event:processed":
                found.append(message)
        return found


@contextlib.contextmanager
def open_stream(daemon: Daemon, *, params: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Iterator[SseReader]:
    """Connect and wait for the first message, which comes once the client is registered."""
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT_SEC)
    with httpx.Client(base_url=daemon.base_url, timeout=timeout) as client:
        with client.stream("GET", "/events/stream", params=params, headers=headers) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            reader = SseReader(response)
            reader.wait_connected()
            yield reader


def push(daemon: Daemon, source: str, event_type: str, n: int) -> int:
    response = daemon.client.post("/events/push", headers=daemon.auth, json={
        "source": source, "event_type": event_type, "payload": {"n": n}})
    assert response.status_code == 202, response.text
    return int(response.json()["seq"])


def unique_source() -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


def test_pushed_events_arrive_in_order_with_increasing_ids(daemon: Daemon) -> None:
    source = unique_source()
    with open_stream(daemon) as stream:
        seqs = [push(daemon, source, "e2e.ordered", n) for n in range(5)]
        messages = stream.events(5)
    bodies = [m.json for m in messages]
    assert [b["payload"] for b in bodies] == [{"n": n} for n in range(5)]
    assert [b["source"] for b in bodies] == [source] * 5
    ids = [int(m.id or -1) for m in messages]
    assert ids == seqs == [b["seq"] for b in bodies]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(daemon: Daemon) -> None:
    source = unique_source()
    with open_stream(daemon) as stream:
        push(daemon, source, "e2e.resume", 0)
        push(daemon, source, "e2e.resume", 1)
        last_id = stream.events(2)[-1].id
    assert last_id is not None
    missed = [push(daemon, source, "e2e.resume", n) for n in range(2, 5)]
    with open_stream(daemon, headers={"Last-Event-ID": last_id}) as stream:
        replayed = stream.events(3)
        marker = push(daemon, source, "e2e.resume", 5)
        after = stream.events(1)
    assert [int(m.id or -1) for m in replayed] == missed
    assert [m.json["payload"]["n"] for m in replayed] == [2, 3, 4]
    assert [m.json["seq"] for m in after] == [marker]  # nothing repeated in between


def test_snapshots_keep_alives_and_metrics(start_daemon: Callable[..., Daemon]) -> None:
    running = start_daemon(extra_config={"stream": {"snapshot_interval_sec": 0.2,
                                                    "heartbeat_sec": 0.05}})
    with open_stream(running) as stream:
        started = time.monotonic()
        seen = stream.until(lambda m: m.event == "runtime:updated")
        seen += stream.until(lambda m: m.event == "runtime:updated")
        assert time.monotonic() - started < 2.0  # two rounds at 0.2 s, not the 2 s default
        by_name = {m.event: m.json for m in seen}
        assert by_name["runtime:updated"] == {"phase": 5, "ready": True, "live": True}
        metrics = by_name["metrics:updated"]
        assert {"queue_depth", "throughput", "discarded", "duplicates", "dlq_depth",
                "backpressure_level"} <= set(metrics)
        assert set(metrics["queue_depth"]) == {"high", "normal", "low"}
        assert isinstance(by_name["notification:updated"]["unread_count"], int)
        assert "keep-alive" in stream.comments
        seq = push(running, "test:snap", "e2e.snap", 1)
        stream.events(1)
        after = stream.until(lambda m: m.event == "metrics:updated")[-1]
        assert after.json["published"] >= 1 and after.id == str(seq)  # snapshots carry the last id
        exposition = running.client.get("/metrics").text
        assert "aman_stream_clients 1.0" in exposition
        assert "aman_stream_messages_sent_total" in exposition


def test_token_decides_payloads_and_a_wrong_token_is_refused(token_daemon: Daemon) -> None:
    source = unique_source()
    with open_stream(token_daemon) as anonymous:
        push(token_daemon, source, "e2e.secret", 1)
        envelope = anonymous.events(1)[0].json
    assert "payload" not in envelope and envelope["source"] == source
    with open_stream(token_daemon, params={"token": TEST_TOKEN}) as by_query:
        push(token_daemon, source, "e2e.secret", 2)
        assert by_query.events(1)[0].json["payload"] == {"n": 2}
    with open_stream(token_daemon, headers=token_daemon.auth) as by_header:
        push(token_daemon, source, "e2e.secret", 3)
        assert by_header.events(1)[0].json["payload"] == {"n": 3}
    for request in ({"params": {"token": "wrong"}}, {"headers": {"Authorization": "Bearer wrong"}},
                    {"params": {"token": TEST_TOKEN}, "headers": {"x-aman-token": "wrong"}}):
        refused = token_daemon.client.get("/events/stream", **request)  # type: ignore[arg-type]
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "unauthorized"
    assert TEST_TOKEN not in token_daemon.all_logs()


def test_type_and_source_filters(daemon: Daemon) -> None:
    source, other = unique_source(), unique_source()
    with open_stream(daemon, params={"types": "e2e.wanted,e2e.glob.*"}) as stream:
        push(daemon, source, "e2e.unwanted", 0)
        push(daemon, source, "e2e.wanted", 1)
        push(daemon, source, "e2e.glob.x", 2)
        push(daemon, source, "e2e.unwanted", 3)
        push(daemon, source, "e2e.wanted", 4)
        got = stream.events(3)
    assert [(m.json["event_type"], m.json["payload"]["n"]) for m in got] == [
        ("e2e.wanted", 1), ("e2e.glob.x", 2), ("e2e.wanted", 4)]
    with open_stream(daemon, params={"sources": source}) as stream:
        push(daemon, other, "e2e.any", 0)
        push(daemon, source, "e2e.any", 1)
        assert [m.json["source"] for m in stream.events(1)] == [source]


def test_bad_queries_and_headers_are_400(daemon: Daemon) -> None:
    unknown = daemon.client.get("/events/stream", params={"typez": "x"})
    assert unknown.status_code == 400 and "query.typez" in unknown.json()["error"]["message"]
    for value in ("abc", "-1", "9" * 40):
        bad_id = daemon.client.get("/events/stream", headers={"Last-Event-ID": value})
        assert bad_id.status_code == 400 and "Last-Event-ID" in bad_id.json()["error"]["message"]


def test_sigterm_with_a_client_connected_exits_promptly(
        start_daemon: Callable[..., Daemon]) -> None:
    running = start_daemon()
    with open_stream(running) as stream:
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        while stream.next() is not None:  # the server ends the stream itself
            pass
        ended = time.monotonic() - started
        code = running.process.wait(timeout=10)
    assert code == 0
    assert ended < 3.0, f"the stream ended {ended:.1f}s after SIGTERM (grace period is 5 s)"
    assert "Exception in callback" not in running.all_logs()
