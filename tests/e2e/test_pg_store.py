"""The real daemon on PostgreSQL: nothing accepted is lost across kill -9, and the database is
free for the next daemon at once (the server drops the dead daemon's lock with its session)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.daemons import Daemon
from tests.e2e.receiver import Receiver
from tests.helpers import wait_for_sync
from tests.pg import PgServer, pg_server

pytestmark = pytest.mark.e2e
__all__ = ["pg_server"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_kill_9_on_postgresql_loses_no_accepted_event(start_daemon: Callable[..., Daemon],
                                                      receiver: Receiver,
                                                      pg_server: PgServer) -> None:
    url = pg_server.new_database()
    config = {"store": {"url": url},
              "forwarders": [{"name": "sink", "url": receiver.url, "event_types": ["load"],
                              "timeout_sec": 2}]}
    daemon = start_daemon(extra_config=config)
    assert daemon.client.get("/runtime/config").json()["store"] == "postgresql"
    accepted: list[str] = []
    stop = threading.Event()

    def pusher(worker: int) -> None:
        with httpx.Client(base_url=daemon.base_url, timeout=5) as client:
            n = 0
            while not stop.is_set():
                try:
                    response = client.post("/events/push", json={
                        "source": f"load:{worker}", "type": "load", "payload": {"n": n}})
                except httpx.TransportError:
                    return  # the daemon died mid-request: that push was never answered
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                n += 1

    threads = [threading.Thread(target=pusher, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    wait_for_sync(lambda: len(accepted) >= 300, 60, what="300 accepted pushes")
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    answered = list(accepted)

    revived = start_daemon(extra_config=config)  # another home: only the database is shared
    for event_id in answered:
        response = revived.client.get(f"/events/dump/{event_id}")
        assert response.status_code == 200, f"accepted event {event_id} was lost"
    wait_for_sync(lambda: set(answered) <= set(receiver.ids()), 60,
                  what=f"all {len(answered)} accepted events delivered")
