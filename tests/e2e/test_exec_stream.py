"""A detached ``exec`` streams through the real daemon: each printed line reaches
``/events/stream`` as ``tool:progress`` about as it is printed, all before the run's
``tool:completed``."""

from __future__ import annotations

import time

import pytest

from tests.e2e.daemons import StartDaemon
from tests.e2e.test_stream import open_stream

pytestmark = pytest.mark.e2e

#: How late a line may reach the stream after it was printed (the machine may be busy).
LATENESS_SEC = 1.5

LOOPS = {
    "shell": "for i in 1 2 3 4; do echo line $i; sleep 0.5; done",
    # A program that buffers its output when it is not writing to a terminal (the test
    # runner's PYTHONUNBUFFERED is taken away so Python buffers as it does for users).
    "python": "env -u PYTHONUNBUFFERED python3 -c \"import time\nfor i in range(1, 5):\n"
              " print('line', i)\n time.sleep(0.5)\"",
}


@pytest.mark.parametrize("kind", sorted(LOOPS))
def test_detached_exec_output_arrives_as_it_is_printed(start_daemon: StartDaemon, tmp_path: str,
                                                       kind: str) -> None:
    daemon = start_daemon(extra_config={"tools": {"workspace_dir": str(tmp_path)}})
    with open_stream(daemon) as stream:
        response = daemon.client.post("/tools/exec/execute", headers={"x-aman-confirm": "yes"},
                                      json={"command": LOOPS[kind], "detach": True})
        assert response.status_code == 200, response.text
        assert set(response.json()["output"]) == {"handle", "pid"}
        call_id = response.json()["call_id"]
        arrivals: list[tuple[float, str]] = []
        seen: list[str] = []
        started = time.monotonic()
        while True:
            message = stream.next()
            assert message is not None, f"the stream ended after {seen}"
            if message.event != "event:processed":
                continue
            event = message.json
            if event["payload"].get("call_id") != call_id:
                continue
            seen.append(event["event_type"])
            if event["event_type"] == "tool:progress":
                for line in event["payload"]["text"].splitlines():
                    arrivals.append((time.monotonic() - started, line))
            if event["event_type"] == "tool:completed":
                assert event["payload"]["exit_code"] == 0, event
                break
            assert time.monotonic() - started < 30, f"no completion: {seen}"
    assert [line for _, line in arrivals] == [f"line {i}" for i in range(1, 5)], seen
    # One completion per call, after all its output.
    assert seen[0] == "tool:dispatched" and seen.count("tool:completed") == 1, seen
    # Line i is printed about 0.5 * (i - 1) s after the start: it must not wait for the end.
    for index, (at, line) in enumerate(arrivals):
        assert at < 0.5 * index + LATENESS_SEC, f"{line} arrived at {at:.2f}s: {arrivals}"
