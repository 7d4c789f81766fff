"""Load and watching for the cluster e2e test: exactly-once pushes spread over daemons at a target
rate from concurrent clients, and an SSE client that remembers every event it received and
resumes with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.daemons import Daemon
from tests.helpers import pace_until

#: The event type the side_effect test plugin records.
LOAD = "side_effect.load"
#: Concurrent pushing clients.
PUSHERS = 32


# --- the load --------------------------------------------------------------------------------

@dataclass
class Load:
    """What the pushers saw."""

    accepted: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)
    by_daemon: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0
    cpu_sec: float = 0.0  # this process's CPU time over the load (it may be the bottleneck)

    @property
    def rate(self) -> float:
        return len(self.accepted) / max(self.ended - self.started, 1e-9)


async def push_load(targets: list[Daemon], load: Load, *, rate: float, seconds: float,
                    dead: set[str]) -> None:
    """Push exactly-once events at ``rate`` per second over ``targets`` (alternating), from
    ``PUSHERS`` concurrent clients; record every id answered 202."""
    load.started = time.monotonic()
    cpu = time.process_time()
    deadline = load.started + seconds
    counter = iter(range(10**9))
    # Idle connections are dropped before the server's keep-alive timeout (5 s) closes them
    # under a request.
    limits = httpx.Limits(keepalive_expiry=2.0)
    clients = {d.bind: httpx.AsyncClient(base_url=d.base_url, timeout=30, limits=limits)
               for d in targets}

    async def pusher(worker: int) -> None:
        while True:
            n = next(counter)
            due = load.started + n / rate
            if due >= deadline or time.monotonic() >= deadline:
                return  # the time is up, at whatever rate the machine sustained
            await pace_until(due)
            target = targets[n % len(targets)]
            if target.bind in dead:
                target = next(d for d in targets if d.bind not in dead)
            body = {"source": f"load:{worker}", "type": LOAD, "delivery": "exactly_once",
                    "payload": {"n": n}}
            try:
                response = await clients[target.bind].post("/events/push", json=body)
            except httpx.TransportError as exc:
                load.refused[f"{target.bind}: {type(exc).__name__}"] += 1
                continue  # the daemon died mid-request: that push was never answered
            if response.status_code == 202:
                load.accepted.append(response.json()["id"])
                load.origin[response.json()["id"]] = target.bind
                load.by_daemon[target.bind] += 1
            else:
                load.refused[f"{target.bind}: {response.status_code}"] += 1

    try:
        await asyncio.gather(*(pusher(w) for w in range(PUSHERS)))
    finally:
        load.ended = time.monotonic()
        load.cpu_sec = time.process_time() - cpu
        await asyncio.gather(*(c.aclose() for c in clients.values()))


class StreamFollower:
    """An SSE client of ``GET /events/stream`` that remembers every event id it received and the
    last SSE ``id`` (sent back as ``Last-Event-ID`` when it reconnects)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.seen: Counter[str] = Counter()
        self.last_id: str | None = None
        self.connections = 0
        self.resumed_from: str | None = None
        self.lagged: list[dict[str, Any]] = []
        self.opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """(Re)connect, resuming from the last id when there is one; return once streaming."""
        self.opened.clear()
        self.resumed_from = self.last_id
        self._task = asyncio.create_task(self._follow(self.last_id))
        opened = asyncio.create_task(self.opened.wait())
        await asyncio.wait({self._task, opened}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            self._task.result()  # raises what ended it
        assert self.opened.is_set(), "the event stream did not open within 30 s"
        opened.cancel()

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self, resume_from: str | None) -> None:
        headers = {"Last-Event-ID": resume_from} if resume_from else {}
        async with httpx.AsyncClient(base_url=self.daemon.base_url, timeout=None) as client, \
                client.stream("GET", "/events/stream", params={"types": LOAD},
                              headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            self.connections += 1
            kind, data = "", []
            async for line in response.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "id":
                        self.last_id = value
                    elif name == "event":
                        kind = value
                    elif name == "data":
                        data.append(value)
                    continue
                if kind == "event:processed":
                    self.seen[json.loads("\n".join(data))["id"]] += 1
                elif kind == "stream:lagged":
                    self.lagged.append(json.loads("\n".join(data)))
                if kind:
                    self.opened.set()  # the first message (snapshots) says we are registered
                kind, data = "", []
