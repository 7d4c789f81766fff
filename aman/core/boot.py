"""The boot table (phase, steps, timeout) and the loop that runs it.

Stages are data and the runner is a loop (HA's bootstrap). Each step receives the Runtime and the
LifecycleStack and pushes its own stop, so unwinding is always the exact reverse of what started.
The steps themselves live in ``aman.core.steps``; this module keeps the order and the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aman.core import steps
from aman.core.lifecycle import LifecycleStack
from aman.core.phases import BootFailure, Phase, PhaseRecord, StepRecord
from aman.errors import AmanError, StartupError

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

log = logging.getLogger(__name__)

StepFn = Callable[["Runtime", LifecycleStack], Awaitable[None]]

#: How often a slow step is named in the log while boot waits for it (HA's pending watcher).
_WATCH_INTERVAL_SEC = 5.0


@dataclass(frozen=True)
class Step:
    """One named unit of boot work."""

    name: str
    run: StepFn


@dataclass(frozen=True)
class PhaseSpec:
    """A row of the boot table."""

    phase: Phase
    steps: tuple[Step, ...]


BOOT_TABLE: tuple[PhaseSpec, ...] = (
    # 0: the HTTP server is already answering /health/live; make sure state has a home.
    PhaseSpec(Phase.ALIVE, (Step("runtime_dir", steps.ensure_runtime_dir),)),
    # 1: settings were validated and secrets resolved before the port was bound; hold the dir.
    PhaseSpec(Phase.CONFIGURED, (Step("instance_lock", steps.hold_instance_lock),)),
    # 2: storage before anything that could accept work, so nothing accepted is lost.
    PhaseSpec(
        Phase.STORAGE,
        (
            Step("database", steps.open_database),
            Step("store_writer", steps.start_store_writer),
            Step("cluster", steps.join_cluster),
            Step("audit_log", steps.start_audit_log),
            Step("api_keys", steps.load_api_keys),
            Step("crash_recovery", steps.recover_after_crash),
        ),
    ),
    # 3: core services every component subscribes to.
    PhaseSpec(
        Phase.CORE,
        (
            Step("event_bus", steps.start_event_bus),
            Step("event_stream", steps.start_event_stream),
            Step("dlq", steps.start_dlq),
            Step("notifications", steps.start_notifications),
            Step("tools", steps.start_tools),
            Step("memory_tools", steps.register_memory_tools),
            Step("plugin_host", steps.start_plugin_host),
        ),
    ),
    # 4: components that consume and produce work. Dispatch opens once every subscriber is in
    # place; sources start last so no event meets an unregistered handler, and stop first.
    PhaseSpec(
        Phase.COMPONENTS,
        (
            Step("forwarders", steps.start_forwarders),
            Step("skills", steps.start_skills),
            Step("soul", steps.load_soul),
            Step("agents", steps.start_agents),
            Step("memory", steps.start_memory),
            Step("approvals", steps.start_approvals),
            Step("llm", steps.start_llm),
            Step("workflows", steps.start_workflows),
            Step("usage", steps.start_usage),
            Step("chat", steps.start_chat),
            Step("conversations", steps.start_conversations),
            Step("event_dispatch", steps.open_dispatch),
            Step("workflow_timers", steps.start_workflow_timers),
            Step("maintenance", steps.start_maintenance),
            Step("cron", steps.start_cron),
            Step("idle", steps.start_idle),
            Step("heartbeat", steps.start_heartbeat),
            Step("mcp", steps.start_mcp),
            Step("capabilities", steps.start_capabilities),
            Step("channel_intake", steps.start_channel_intake),
            Step("event_sources", steps.start_event_sources),
        ),
    ),
    # 5: readiness opens.
    PhaseSpec(Phase.READY, ()),
)


# --- the loop --------------------------------------------------------------------------------


async def run_boot(
    runtime: Runtime, stack: LifecycleStack, table: tuple[PhaseSpec, ...] = BOOT_TABLE
) -> None:
    """Run every phase in order, recording timings; raise ``StartupError`` on the first failure."""
    timeout = runtime.settings.runtime.boot_phase_timeout_sec
    loop = asyncio.get_running_loop()
    for spec in table:
        record = runtime.phases.records[spec.phase]
        record.status = "running"
        record.started_at_ms = runtime.clock.now_ms()
        started = loop.time()
        deadline = started + timeout
        # Unwinding passes this marker after every stop of the phase: we are back one phase.
        previous = Phase(max(0, spec.phase - 1))
        stack.push(f"leave phase {int(spec.phase)}", _phase_setter(runtime, previous))
        for step in spec.steps:
            await _run_step(runtime, stack, spec.phase, record, step, deadline)
        record.status = "done"
        record.duration_ms = round((loop.time() - started) * 1000, 3)
        runtime.set_phase(spec.phase)


def _phase_setter(runtime: Runtime, phase: Phase) -> Callable[[], Awaitable[None]]:
    async def set_phase() -> None:
        runtime.set_phase(phase)

    return set_phase


async def _run_step(
    runtime: Runtime,
    stack: LifecycleStack,
    phase: Phase,
    record: PhaseRecord,
    step: Step,
    deadline: float,
) -> None:
    loop = asyncio.get_running_loop()
    step_record = StepRecord(step.name, status="running")
    record.steps.append(step_record)
    started = loop.time()
    watcher = asyncio.create_task(_watch(phase, step.name, started), name=f"watch:{step.name}")
    try:
        await asyncio.wait_for(step.run(runtime, stack), timeout=max(0.0, deadline - started))
    except Exception as exc:
        if isinstance(exc, TimeoutError):
            message = f"step {step.name} did not finish within the phase timeout"
            code = "boot_timeout"
        else:
            message = str(exc) or type(exc).__name__
            code = exc.code if isinstance(exc, AmanError) else "startup_failed"
        step_record.status = record.status = "failed"
        step_record.error = message
        step_record.duration_ms = round((loop.time() - started) * 1000, 3)
        runtime.phases.failure = BootFailure(phase, step.name, message, code)
        log.error("boot failed in phase %d at step %s: %s", phase, step.name, message)
        raise StartupError(
            f"boot failed in phase {int(phase)} ({phase.label}) at step {step.name}: {message}",
            code=code,
        ) from exc
    finally:
        watcher.cancel()
    step_record.status = "done"
    step_record.duration_ms = round((loop.time() - started) * 1000, 3)


async def _watch(phase: Phase, step: str, started: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(_WATCH_INTERVAL_SEC)
        log.warning(
            "boot still waiting for step %s in phase %d after %.0fs",
            step,
            phase,
            loop.time() - started,
        )
