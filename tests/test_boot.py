"""Phased boot through a real app: order, timings, failure that leaves the process up, restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aman.core.app import create_app
from aman.core.phases import Phase, RuntimeState
from aman.core.runtime import Runtime
from tests.helpers import SettingsFactory, hang, runtime_of, wait_for


async def test_boot_reaches_phase_five_with_every_step_timed(runtime: Runtime) -> None:
    status = runtime.status()
    assert status["phase"] == 5 and status["ready"] and status["state"] == "ready"
    phases = status["phases"]
    assert [p["phase"] for p in phases] == [0, 1, 2, 3, 4, 5]
    assert all(p["status"] == "done" and p["duration_ms"] is not None for p in phases)
    steps = [s["name"] for p in phases for s in p["steps"]]
    assert steps == [
        "runtime_dir", "instance_lock", "database", "store_writer", "cluster", "audit_log",
        "api_keys",
        "crash_recovery", "event_bus", "event_stream", "dlq", "notifications", "tools",
        "memory_tools", "plugin_host", "forwarders", "skills", "soul", "agents", "memory",
        "approvals", "llm", "workflows",
        "usage", "chat", "conversations", "event_dispatch", "workflow_timers", "maintenance",
        "cron", "idle", "heartbeat", "mcp", "capabilities", "channel_intake",
        "event_sources",
    ]


async def test_stop_unwinds_to_phase_zero_and_releases_everything(runtime: Runtime) -> None:
    await runtime.stop()
    assert runtime.state is RuntimeState.STOPPED and runtime.phases.phase is Phase.ALIVE
    assert not runtime.db.is_open and not runtime.instance_lock.held
    await runtime.stop()  # idempotent
    await runtime.start()
    assert runtime.ready and runtime.db.is_open and runtime.phases.boot_count == 2


async def test_failed_step_leaves_the_process_up_and_reports_it(make_settings: SettingsFactory,
                                                                runtime_dir: Path) -> None:
    (runtime_dir / "aman.db").mkdir()  # the database file cannot be opened
    app = create_app(make_settings())
    rt = runtime_of(app)
    async with app.test_app() as served:
        await wait_for(lambda: rt.state is RuntimeState.FAILED)
        client = served.test_client()
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        body = await ready.get_json()
        assert ready.status_code == 503
        assert body["state"] == "failed" and body["failure"]["step"] == "database"
        status = await (await client.get("/runtime/status")).get_json()
        assert status["failure"]["phase"] == 2 and status["failure"]["step"] == "database"
        assert status["phase"] == 1  # the last phase that completed
        # Fix the cause and start again through the API.
        (runtime_dir / "aman.db").rmdir()
        started = await client.post("/agent/start")
        assert started.status_code == 200
        assert rt.ready and rt.phases.failure is None


async def test_start_after_failure_that_persists_reports_the_step(make_settings: SettingsFactory,
                                                                  runtime_dir: Path) -> None:
    (runtime_dir / "aman.db").mkdir()
    app = create_app(make_settings())
    rt = runtime_of(app)
    async with app.test_app() as served:
        await wait_for(lambda: rt.state is RuntimeState.FAILED)
        response = await served.test_client().post("/agent/start")
        body = await response.get_json()
        assert response.status_code == 500
        assert body["error"]["details"]["failure"]["step"] == "database"


async def test_a_step_that_hangs_fails_boot_with_a_timeout_naming_it(
        make_settings: SettingsFactory) -> None:
    rt = Runtime(make_settings(**{"runtime.boot_phase_timeout_sec": 0.2}))

    rt.recovery_hooks.append(("slow-recovery", hang))
    await rt.start_in_background()
    assert rt.state is RuntimeState.FAILED
    assert rt.phases.failure is not None
    assert rt.phases.failure.step == "crash_recovery" and rt.phases.failure.code == "boot_timeout"
    await rt.stop()
    assert not rt.db.is_open


async def test_shutdown_during_boot_cancels_it_and_unwinds(make_settings: SettingsFactory) -> None:
    rt = Runtime(make_settings())
    gate = asyncio.Event()

    async def wait_for_gate() -> None:
        await gate.wait()

    rt.recovery_hooks.append(("gated", wait_for_gate))
    rt.start_in_background()
    await wait_for(lambda: rt.db.is_open)
    await rt.stop()
    assert rt.state is RuntimeState.STOPPED and not rt.db.is_open and not rt.instance_lock.held


async def test_two_runtimes_cannot_share_a_runtime_dir(make_settings: SettingsFactory) -> None:
    first, second = Runtime(make_settings()), Runtime(make_settings())
    await first.start()
    await second.start_in_background()
    assert second.state is RuntimeState.FAILED
    assert second.phases.failure is not None and second.phases.failure.code == "runtime_dir_locked"
    assert str(__import__("os").getpid()) in second.phases.failure.error
    await second.stop()
    await first.stop()
