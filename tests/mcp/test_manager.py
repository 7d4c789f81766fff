"""MCP servers through a real runtime: the PyPI time server over stdio, an SDK HTTP server in its
own process, and servers that cannot start, exit at once or never answer."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time

import pytest

from aman.config.agents import AgentToolSettings
from aman.config.loader import load_settings
from aman.mcp.connection import BACKOFF_START_SEC, next_delay
from aman.tools.model import ToolContext
from aman.tools.registry import ToolNotFoundError
from tests.helpers import wait_for
from tests.mcp.helpers import (
    HttpServer,
    ServedApp,
    marked,
    new_mark,
    processes_with,
    time_server,
    wait_state,
)

BROKEN = {
    "missing": {"command": "/nonexistent/mcp-server"},
    "quits": {"command": sys.executable, "args": ["-c", "import sys; "
                                                  "sys.stderr.write('no config, bye\\n')"]},
    "silent": {"command": sys.executable, "args": ["-c", "import time; time.sleep(600)"],
               "connect_timeout_sec": 2},
    "off": {**time_server(), "enabled": False},
}


def ctx() -> ToolContext:
    return ToolContext(call_id="test-call")


async def test_a_stdio_server_is_connected_after_ready_and_its_tools_run(
        serve: ServedApp) -> None:
    async with serve({"time": time_server()}) as (_, runtime):
        assert runtime.mcp.states()["time"] in ("connecting", "ready")
        await wait_state(runtime, "time", "ready")
        names = {t["name"]: t for t in runtime.mcp.tools_of("time")}
        assert {"mcp__time__get_current_time", "mcp__time__convert_time"} <= set(names)
        assert names["mcp__time__get_current_time"]["sensitivity"] == "medium"  # untrusted
        result = await runtime.tools.execute("mcp__time__get_current_time",
                                             {"timezone": "Europe/Berlin"}, ctx())
        assert result.status == "success"
        assert json.loads(result.output)["timezone"] == "Europe/Berlin"
        described = runtime.mcp.describe("time")
        assert described["transport"] == "stdio" and described["tools"] == len(names)
        assert described["server_info"].startswith("mcp-time")


async def test_broken_servers_never_delay_readiness_and_show_why(
        serve: ServedApp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aman.mcp.server")
    started = time.monotonic()
    async with serve({**BROKEN, "time": time_server()}) as (_, runtime):
        ready_after = time.monotonic() - started
        assert runtime.ready
        mcp_step = next(step for phase in runtime.status()["phases"] for step in phase["steps"]
                        if step["name"] == "mcp")
        for name in ("missing", "quits", "silent"):
            await wait_state(runtime, name, "failed")
        await wait_state(runtime, "time", "ready")
        listing = {s["name"]: s for s in runtime.mcp.listing()}
        assert "No such file or directory" in listing["missing"]["last_error"]
        assert "no config, bye" in listing["quits"]["last_error"]
        assert "mcp server quits: no config, bye" in caplog.text  # its stderr, under its name
        assert "no answer within 2s (connect_timeout_sec)" in listing["silent"]["last_error"]
        assert listing["off"]["state"] == "disabled" and listing["off"]["tools"] == 0
        assert listing["missing"]["next_retry_at"] is not None
        assert not [n for n in runtime.tools.names() if n.startswith("mcp__missing__")]
        capabilities = await runtime.capabilities.current()
        assert capabilities["mcp:time"][0]["status"] == "healthy"
        assert capabilities["mcp:missing"][0]["status"] == "error"
        # Failed servers keep being probed.
        attempts = listing["quits"]["attempts"]
        await wait_for(lambda: runtime.mcp.describe("quits")["attempts"] > attempts, 30)
    # Readiness waited for none of them: the boot step only read the configuration.
    assert mcp_step["duration_ms"] < 500 and ready_after < 30


async def test_stop_leaves_no_server_process(serve: ServedApp) -> None:
    mark, stubborn = new_mark(), new_mark()
    # One server leaves when its stdin closes; the other ignores it and is killed.
    async with serve({"time": marked(time_server(), mark),
                      "stubborn": marked(BROKEN["silent"], stubborn)}) as (_, runtime):
        await wait_state(runtime, "time", "ready")
        await wait_for(lambda: bool(processes_with(stubborn)), 30)
        assert processes_with(mark)
        started = time.monotonic()
        await runtime.mcp.stop()
        stopped_in = time.monotonic() - started
    assert processes_with(mark) == [] and processes_with(stubborn) == []
    assert stopped_in < 5  # within a short drain budget, not the SDK's full escalation


async def test_http_server_headers_timeout_list_changed_and_reconnect(
        serve: ServedApp, http_server: HttpServer) -> None:
    servers = {"web": {"url": http_server.url, "timeout_sec": 1, "trust": "trusted",
                       "headers": {"Authorization": "Bearer ${MCP_TEST_TOKEN:-anon}",
                                   "X-Client": "aman-test"}}}
    async with serve(servers) as (_, runtime):
        await wait_state(runtime, "web", "ready")
        levels = {t["mcp_name"]: t["sensitivity"] for t in runtime.mcp.tools_of("web")}
        assert levels["whoami"] == "low" and levels["wipe"] == "high"
        seen = await runtime.tools.execute("mcp__web__whoami", {}, ctx())
        headers = json.loads(seen.output)
        assert headers["authorization"] == "Bearer anon" and headers["x-client"] == "aman-test"
        # A call without an answer in time fails alone; the server and its tools stay.
        slow = await runtime.tools.execute("mcp__web__slow", {"seconds": 5}, ctx())
        assert slow.status == "timeout" and "timeout_sec" in str(slow.reason)
        assert runtime.mcp.states()["web"] == "ready"
        quick = await runtime.tools.execute("mcp__web__slow", {"seconds": 0}, ctx())
        assert quick.status == "success"
        # Its resource and prompt are reachable through the two helper tools.
        note = await runtime.tools.execute("mcp__web__read_resource", {"uri": "notes://today"},
                                           ctx())
        assert note.output == "water the plants"
        assert levels["read_resource"] == "low"  # trusted server: reading runs unasked
        prompt = await runtime.tools.execute("mcp__web__get_prompt",
                                             {"name": "greet", "arguments": {"who": "Ada"}}, ctx())
        assert "Say hello to Ada." in prompt.output
        # tools/list_changed lists the tools again.
        grown = await runtime.tools.execute("mcp__web__grow", {"name": "fresh"}, ctx())
        assert grown.status == "success"
        await wait_for(lambda: "mcp__web__fresh" in runtime.tools.names(), 20)
        # Killed: failed and its tools withdrawn; restarted: connected again by itself.
        http_server.kill()
        await wait_state(runtime, "web", "failed", 30)
        assert not [n for n in runtime.tools.names() if n.startswith("mcp__web__")]
        with pytest.raises(ToolNotFoundError):  # never offered, never run
            await runtime.tools.execute("mcp__web__whoami", {}, ctx())
        assert runtime.mcp.describe("web")["last_error"]
        http_server.start()
        await wait_state(runtime, "web", "ready", 90)
        again = await runtime.tools.execute("mcp__web__whoami", {}, ctx())
        assert again.status == "success"


async def test_reconnect_on_demand_and_live_changes(serve: ServedApp) -> None:
    mark = new_mark()
    async with serve({"time": marked(time_server(), mark)}) as (_, runtime):
        await wait_state(runtime, "time", "ready")
        first = runtime.mcp.describe("time")["attempts"]
        await runtime.mcp.reconnect("time")
        await wait_for(lambda: runtime.mcp.describe("time")["attempts"] > first, 30)
        await wait_state(runtime, "time", "ready")
        # One server replaced live: it reconnects with its new settings.
        await runtime.config.set({"mcp.servers.time": {**marked(time_server(), mark),
                                                       "timeout_sec": 5}}, operator="test")
        assert runtime.mcp.states()["time"] in ("connecting", "ready")  # listed throughout
        await wait_for(lambda: runtime.mcp.states()["time"] == "ready"
                         and getattr(runtime.mcp.get("time").resolved, "timeout_sec", 0) == 5, 60)
        # Added live.
        second = new_mark()
        applied = await runtime.config.set({"mcp.servers": {
            "time": marked(time_server(), mark), "clock": marked(time_server(), second)}},
            operator="test")
        shown = applied.to_json()["applied"]["mcp.servers"]["clock"]["env"]
        assert shown == {"AMAN_TEST_MARK": "***"}  # env and headers may hold credentials
        live = {k["key"]: k["value"] for k in runtime.config.live_keys()}
        assert live["mcp.servers.time"]["env"] == {"AMAN_TEST_MARK": "***"}
        await wait_state(runtime, "clock", "ready")
        assert processes_with(second)
        # Disabled live: its process stops and its tools go.
        await runtime.config.set({"mcp.servers.clock.enabled": False}, operator="test")
        await wait_state(runtime, "clock", "disabled")
        await wait_for(lambda: not processes_with(second), 30)
        await wait_for(lambda: not [n for n in runtime.tools.names()
                                      if n.startswith("mcp__clock__")], 30)
        # Removed live: gone from the list, and the removal survives a restart.
        await runtime.config.set({"mcp.servers": {"time": marked(time_server(), mark)}},
                                 operator="test")
        await wait_for(lambda: "clock" not in runtime.mcp.names(), 30)
        reread = load_settings(env={}, overrides={"runtime.dir": str(runtime.settings.runtime.dir)})
        assert sorted(reread.mcp.servers) == ["time"]
    assert processes_with(mark) == []


async def test_an_sse_server_is_reached_by_its_url(serve: ServedApp,
                                                   sse_server: HttpServer) -> None:
    async with serve({"old": {"url": sse_server.url, "headers": {"X-Client": "aman-sse"}}}) as (
            _, runtime):
        await wait_state(runtime, "old", "ready")
        assert runtime.mcp.describe("old")["transport"] == "sse"
        seen = await runtime.tools.execute("mcp__old__whoami", {}, ctx())
        assert json.loads(seen.output)["x-client"] == "aman-sse"


async def test_agents_allow_and_deny_mcp_tools_by_glob(serve: ServedApp) -> None:
    async with serve({"time": time_server(tools={"exclude": ["convert_time"]})}) as (
            _, runtime):
        await wait_state(runtime, "time", "ready")
        everything = {t.name for t in runtime.tools.offered(AgentToolSettings())}
        assert "mcp__time__get_current_time" in everything
        assert "mcp__time__convert_time" not in everything  # excluded by the server's filter
        denied = AgentToolSettings(deny=["mcp__time__*"])
        assert not [t for t in runtime.tools.offered(denied) if t.name.startswith("mcp__")]
        only = AgentToolSettings(allow=["mcp__*"])
        assert {t.name for t in runtime.tools.offered(only)} == {"mcp__time__get_current_time"}
        assert "mcp:tools_changed" in {t["event_type"] for t in runtime.event_types.listing()}

        async def connected_stored() -> bool:  # the event log is written in batches
            recent = await runtime.event_log.recent(200)
            return any(e["event_type"] == "mcp:server_connected" for e in recent)

        await wait_for(connected_stored, 30, what="an mcp:server_connected event stored")


async def test_a_stdio_server_that_dies_is_noticed_and_started_again(serve: ServedApp) -> None:
    mark = new_mark()
    async with serve({"time": marked(time_server(), mark)}) as (_, runtime):
        await wait_state(runtime, "time", "ready")
        [pid] = processes_with(mark)
        os.kill(pid, signal.SIGKILL)
        await wait_state(runtime, "time", "failed", 30)
        assert "closed the connection" in str(runtime.mcp.describe("time")["last_error"])
        assert not [n for n in runtime.tools.names() if n.startswith("mcp__time__")]
        await wait_state(runtime, "time", "ready", 60)  # retried after 1 s by itself
        assert processes_with(mark) and processes_with(mark) != [pid]
        result = await runtime.tools.execute("mcp__time__get_current_time", {"timezone": "UTC"},
                                             ctx())
        assert result.status == "success"


def test_retries_back_off_doubling_up_to_a_minute() -> None:
    delays = [BACKOFF_START_SEC]
    for _ in range(9):
        delays.append(next_delay(delays[-1]))
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
