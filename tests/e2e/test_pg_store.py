"""The real daemon on PostgreSQL: nothing accepted is lost across kill -9, and the database is
free for the next daemon at once (the server drops the dead daemon's lock with its session)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, push_then_kill
from tests.e2e.gated import HANDLER, PUSH, Gated
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
    answered = push_then_kill(daemon, at_least=300, timeout=60)

    revived = start_daemon(extra_config=config)  # another home: only the database is shared
    for event_id in answered:
        response = revived.client.get(f"/events/dump/{event_id}")
        assert response.status_code == 200, f"accepted event {event_id} was lost"
    wait_for_sync(lambda: set(answered) <= set(receiver.ids()), 60,
                  what=f"all {len(answered)} accepted events delivered")


def test_a_survivor_parks_the_exactly_once_delivery_a_killed_daemon_was_running(
        start_daemon: Callable[..., Daemon], pg_server: PgServer, tmp_path: Path) -> None:
    """Two daemons share the database; the one running an exactly-once handler is killed. The
    survivor takes its event over, parks the delivery in the DLQ as interrupted instead of running
    the handler again, and its DLQ retry runs it once."""
    gated = Gated(tmp_path)
    url = pg_server.new_database()
    cluster = {"heartbeat_sec": 0.2, "dead_after_sec": 2}

    def config(name: str) -> dict[str, Any]:
        return {**gated.config, "store": {"url": url}, "cluster": {**cluster, "node_name": name}}

    doomed = start_daemon(extra_config=config("doomed"))
    survivor = start_daemon(extra_config=config("survivor"))
    pushed = doomed.client.post("/events/push", json=PUSH)
    assert pushed.status_code == 202
    event_id = pushed.json()["id"]
    wait_for_sync(lambda: gated.runs() == [event_id], 30, what="the handler to start")
    os.kill(doomed.process.pid, signal.SIGKILL)
    doomed.process.wait(timeout=10)
    gated.open_on(survivor)  # were the handler run again there, it would finish at once

    dump = wait_for_sync(lambda: (d := survivor.client.get(f"/events/dump/{event_id}").json())
                         and d.get("status") == "done" and d, 60,
                         what="the survivor to take the event over and finish it")
    assert [(d["handler"], d["status"]) for d in dump["deliveries"]] == [(HANDLER, "dead")]
    (entry,) = survivor.client.get("/dlq").json()["items"]
    assert entry["event_id"] == event_id and entry["reason"].startswith("interrupted:")
    assert gated.runs() == [event_id]
    assert survivor.client.get("/runtime/status").json()["cluster"]["taken_over"] == 1

    retried = survivor.client.post(f"/dlq/{entry['id']}/retry",
                                   headers={"x-aman-confirm": "yes"})
    assert retried.status_code == 202
    wait_for_sync(
        lambda: survivor.client.get(f"/dlq/{entry['id']}").json()["status"] == "resolved", 30,
        what="the DLQ retry resolved")
    assert gated.runs() == [event_id, event_id]
