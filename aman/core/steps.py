"""The boot steps: each starts one component and pushes its own stop onto the stack.

Every step receives the Runtime and the ``LifecycleStack``; the table in ``aman.core.boot`` says
in which phase and order they run and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aman.core.lifecycle import LifecycleStack
from aman.errors import AmanError

if TYPE_CHECKING:
    from aman.core.runtime import Runtime
    from aman.tools.builtin.exec import DetachedProcesses
    from aman.tools.model import Tool

log = logging.getLogger(__name__)


async def ensure_runtime_dir(runtime: Runtime, stack: LifecycleStack) -> None:
    """Make sure the runtime dir exists: everything durable lives under it (owner only)."""
    runtime.settings.runtime.dir.mkdir(mode=0o700, parents=True, exist_ok=True)


async def hold_instance_lock(runtime: Runtime, stack: LifecycleStack) -> None:
    """The daemon takes the lock before binding its port so a second daemon exits at once; an
    embedded Runtime (tests, tools) takes it here and gives it back when it stops.
    """
    if runtime.instance_lock.held:
        return
    runtime.instance_lock.acquire()

    async def release() -> None:
        runtime.instance_lock.release()

    stack.push("instance_lock", release)


async def open_database(runtime: Runtime, stack: LifecycleStack) -> None:
    """Open the store ``store.url`` names and bring its schema up to date; closing is pushed
    first. A wrong URL, an unreachable server or a schema newer than this code fails here."""
    stack.push("database", runtime.store.close)  # first: safe even if open is cut short
    await runtime.store.open()


async def start_store_writer(runtime: Runtime, stack: LifecycleStack) -> None:
    """Start the group-commit writer; it unwinds after everything that writes."""
    await runtime.writer.start()
    # Unwound after everything that writes: the final flush of stop stage 3.
    stack.push("store_writer", runtime.writer.stop)


async def join_cluster(runtime: Runtime, stack: LifecycleStack) -> None:
    """Register among the daemons sharing the store (a live one of the same name refuses this
    one). Its stop gives pending claims back and leaves, before the writer's last flush."""
    stack.push("cluster", runtime.cluster.stop)
    await runtime.cluster.join()


async def start_audit_log(runtime: Runtime, stack: LifecycleStack) -> None:
    """Start the hash-chained audit log."""
    await runtime.audit.start()
    stack.push("audit_log", runtime.audit.stop)


async def load_api_keys(runtime: Runtime, stack: LifecycleStack) -> None:
    """Load the stored API keys; their last-used times are written on the way down."""
    await runtime.keys.start()
    stack.push("api_keys", runtime.keys.stop)
    _refresh_each_tick(runtime, stack, "api_keys_sync", runtime.keys.refresh)


async def recover_after_crash(runtime: Runtime, stack: LifecycleStack) -> None:
    """The hook point where stores re-queue work that was accepted but not finished before a crash;
    each component that needs recovery registers its callback on the Runtime.
    """
    for name, recover in runtime.recovery_hooks:
        log.info("crash recovery: %s", name)
        await recover()


async def start_event_bus(runtime: Runtime, stack: LifecycleStack) -> None:
    """Start the bus workers; dispatch opens later, once every subscriber is in place."""
    await runtime.bus.start()
    runtime.event_types.seen_many(await runtime.event_log.event_types())
    stack.push("event_bus", runtime.bus.stop)


async def start_event_stream(runtime: Runtime, stack: LifecycleStack) -> None:
    """Observes the bus before dispatch opens, so SSE clients see recovered events too. Its stop
    closes every open stream, so no client holds the server's shutdown.
    """
    await runtime.stream.attach(runtime.bus)
    stack.push("event_stream", runtime.stream.stop)


async def start_dlq(runtime: Runtime, stack: LifecycleStack) -> None:
    """Start the dead-letter service."""
    await runtime.dlq.start()


async def start_notifications(runtime: Runtime, stack: LifecycleStack) -> None:
    """Subscribes before dispatch opens (phase 4), so facts recovered after a crash still become
    notifications; the store dedups them by event id.
    """
    await runtime.notifications.start(runtime.bus)
    stack.push("notifications", runtime.notifications.stop)


async def start_forwarders(runtime: Runtime, stack: LifecycleStack) -> None:
    """Subscribe the configured webhook forwarders."""
    await runtime.forwarders.start(runtime.bus)
    stack.push("forwarders", runtime.forwarders.stop)


async def load_soul(runtime: Runtime, stack: LifecycleStack) -> None:
    """Required: an agent without its persona and boundaries must not serve. A broken
    edit later on disk keeps the last good soul in force instead.
    """
    await runtime.soul.load()
    runtime.soul.start_watching()
    stack.push("soul", runtime.soul.stop)


async def start_agents(runtime: Runtime, stack: LifecycleStack) -> None:
    """After the soul: an agent whose soul is missing starts in Error, not the whole daemon; each
    agent is announced with agent:registered.
    """
    stack.push("agents", runtime.agents.stop)
    await runtime.agents.start()


async def start_approvals(runtime: Runtime, stack: LifecycleStack) -> None:
    """Before chat and dispatch: requests a previous run left pending are expired (and announced)
    first; its stop cancels pending waiters after chat has stopped its turns.
    """
    stack.push("approvals", runtime.approvals.stop)
    expired = await runtime.approvals.start()
    if expired:
        log.info("tool approvals: %d request(s) left pending by the last run expired", expired)


async def start_skills(runtime: Runtime, stack: LifecycleStack) -> None:
    """Event skills subscribe before dispatch opens, so recovered events meet them."""
    from aman.skills.watcher import SkillWatcher

    runtime_skills = runtime.settings.runtime.dir / "skills"
    if runtime_skills in runtime.skills.dirs:
        runtime_skills.mkdir(parents=True, exist_ok=True)
    stack.push("skills", runtime.skills.stop)
    await runtime.skills.start()
    watcher = SkillWatcher(runtime.skills, debounce_ms=runtime.settings.skills.debounce_ms)
    runtime.skills.watcher = watcher
    runtime.skills.on_dirs_changed = watcher.restart
    watcher.start()
    stack.push("skills_watch", watcher.stop)


async def start_workflows(runtime: Runtime, stack: LifecycleStack) -> None:
    """Subscribes before dispatch opens, so events recovered after a crash reach their instances;
    an invalid definition file is listed with its error, never fatal.
    """
    from aman.watching import FolderWatcher

    runtime_workflows = runtime.settings.runtime.dir / "workflows"
    if runtime_workflows in runtime.workflows.dirs:
        runtime_workflows.mkdir(parents=True, exist_ok=True)
    stack.push("workflows", runtime.workflows.stop)
    await runtime.workflows.start()
    watcher = FolderWatcher("workflows", lambda: runtime.workflows.dirs,
                            lambda: runtime.workflows.reload(reason="watch"))
    runtime.workflows.watcher = watcher
    watcher.start()
    stack.push("workflows_watch", watcher.stop)


async def start_workflow_timers(runtime: Runtime, stack: LifecycleStack) -> None:
    """After dispatch opens: a timeout that fell due while the daemon was down fires now. One
    daemon among those sharing the store runs the timers (its leader)."""
    async def start() -> None:
        count = await runtime.workflows.start_timers()
        log.info("workflow timers: %d pending", count)

    await _lead(runtime, stack, "workflow_timers", start, runtime.workflows.stop_timers)
    _refresh_each_tick(runtime, stack, "workflow_timers_sync", runtime.workflows.resync_timers)


def _refresh_each_tick(runtime: Runtime, stack: LifecycleStack, name: str,
                       refresh: Callable[[], Awaitable[object]]) -> None:
    """On a shared store, take in what other daemons changed at every cluster tick."""
    undo = runtime.cluster.on_tick(name, refresh)

    async def stop() -> None:
        undo()

    stack.push(name, stop)


async def _lead(runtime: Runtime, stack: LifecycleStack, role: str,
                start: Callable[[], Awaitable[object]],
                stop: Callable[[], Awaitable[object]]) -> None:
    """Run a once-per-cluster role here whenever this daemon leads it; withdrawn at stop."""
    async def withdraw() -> None:
        await runtime.cluster.withdraw(role)

    stack.push(role, withdraw)  # first: withdraws whatever a cut-short start began
    await runtime.cluster.lead(role, start, stop)


async def start_llm(runtime: Runtime, stack: LifecycleStack) -> None:
    """Providers are built on first use; stopping closes clients and unloads local models. The
    default agent's provider is probed in the background (now, then every
    llm.probe_interval_sec) so boot never waits on a backend and /health/llm has a recent
    answer; a local model is only checked, never loaded, by a probe.
    """
    stack.push("llm", runtime.llm.close)
    offered = await runtime.plugins.llm_provider(runtime.settings)
    if offered is not None:  # a plugin's provider serves in place of the default one
        try:
            name = runtime.llm.use_plugin_provider(offered)
            log.info("LLM provider %r comes from a plugin (%s)", name, type(offered).__name__)
        except AmanError as exc:
            log.error("%s; %s", exc.message, exc.hint)
    probes = runtime.tasks.spawn("llm:probe", runtime.llm.probe_forever())

    async def stop_probes() -> None:
        probes.cancel()
        await asyncio.gather(probes, return_exceptions=True)

    stack.push("llm_probe", stop_probes)


async def start_usage(runtime: Runtime, stack: LifecycleStack) -> None:
    """Rebuild today's token counters (budgets) from the store; queued rows commit on stop."""
    await runtime.usage.start()
    stack.push("usage", runtime.usage.stop)
    _refresh_each_tick(runtime, stack, "usage_sync", runtime.usage.refresh)


async def start_chat(runtime: Runtime, stack: LifecycleStack) -> None:
    """After workflows (sessions are instances) and before dispatch: replies a crash cut short are
    marked interrupted and their sessions moved to error first. Its stop stops running replies,
    storing partials as interrupted, before the bus drains.
    """
    stack.push("chat", runtime.chat.stop)
    await runtime.chat.start()


async def start_conversations(runtime: Runtime, stack: LifecycleStack) -> None:
    """After chat, before dispatch: recovered inbound messages and undelivered replies are handled
    by the first dispatch. Stops before chat, after the bus has drained (``ChannelOutbox.lead``)."""
    outbox = runtime.channel_outbox
    outbox.start()
    stack.push("channel_outbox_sender", outbox.stop)
    await _lead(runtime, stack, "channel_outbox", outbox.lead, outbox.unlead)
    runtime.conversations.start()
    stack.push("conversations", runtime.conversations.stop)
    # An hour inside the dedup window: older deliveries could no longer be told apart.
    window = runtime.settings.event_bus.dedup_window_ms - 3_600_000
    await runtime.conversations.recover(window)


async def open_dispatch(runtime: Runtime, stack: LifecycleStack) -> None:
    """Every subscriber registered in phases 3-4 is in place: recovered and new events may flow,
    and events other daemons leave behind are taken over from now on."""
    runtime.bus.open_dispatch()
    runtime.cluster.attach(runtime.bus)

    async def drain() -> None:
        # Read at stop: runtime.drain_timeout_sec may have changed live.
        await runtime.bus.drain(runtime.settings.runtime.drain_timeout_sec * 0.4)

    stack.push("event_dispatch", drain)


async def start_maintenance(runtime: Runtime, stack: LifecycleStack) -> None:
    """Start retention pruning and DLQ expiry."""
    from aman.core.maintenance import start_maintenance

    stops: list[Callable[[], Awaitable[None]]] = []

    async def start() -> None:
        stops.append(start_maintenance(
            settings=lambda: runtime.settings, event_log=runtime.event_log, clock=runtime.clock,
            tasks=runtime.tasks, dlq_sweep=runtime.dlq.sweep))

    async def stop() -> None:
        while stops:
            await stops.pop()()

    await _lead(runtime, stack, "maintenance", start, stop)


async def start_cron(runtime: Runtime, stack: LifecycleStack) -> None:
    """After dispatch opens, so runs missed while the daemon was down (catch-up) reach their
    subscribers; stopped before the bus drains, so no firing lands in a closing bus.
    """
    await runtime.cron.load()
    await _lead(runtime, stack, "cron", runtime.cron.start, runtime.cron.stop)
    _refresh_each_tick(runtime, stack, "cron_sync", runtime.cron.refresh)


async def start_idle(runtime: Runtime, stack: LifecycleStack) -> None:
    """After cron, with dispatch open: the scheduler sees user messages from the first one. Off
    means no task and no observer at all (the idle:* types are declared either way: POST
    /idle-run emits them).
    """
    if not runtime.settings.idle.enabled:
        return
    from aman.idle.scheduler import IdleScheduler

    scheduler = IdleScheduler(runtime.idle, runtime.bus, runtime.clock, runtime.tasks,
                              lambda: runtime.settings.idle)

    async def start() -> None:
        scheduler.start()

    await _lead(runtime, stack, "idle", start, scheduler.stop)


async def start_heartbeat(runtime: Runtime, stack: LifecycleStack) -> None:
    """After dispatch opened: tickers for agents whose heartbeat is on, and cron wake-ups."""
    stack.push("heartbeat_wakes", runtime.heartbeat.stop)
    runtime.heartbeat.start()
    await _lead(runtime, stack, "heartbeat", runtime.heartbeat.start_tickers,
                runtime.heartbeat.stop_tickers)


async def start_event_sources(runtime: Runtime, stack: LifecycleStack) -> None:
    """Last of phase 4 so every subscriber and dispatch are in place before the first event; hence
    stopped first. A source that cannot start is failed alone, boot goes on. Every
    source was registered in phase 3 by a plugin: the built-in timers and file watches by the
    default plugin core-sources (aman/plugins/defaults), the others by their plugins, which
    unregister them when the plugin host stops, so a restart builds them again.
    """
    async def stop_sources() -> None:
        await runtime.sources.stop_all()

    stack.push("event_sources", stop_sources)
    await runtime.sources.start_all()


async def start_channel_intake(runtime: Runtime, stack: LifecycleStack) -> None:
    """Just before event_sources, unwound after: the pulling sources, on the channel_intake
    leader alone (``ChannelIntake.lead``)."""
    await _lead(runtime, stack, "channel_intake", runtime.channel_intake.lead,
                runtime.channel_intake.stop)


async def start_capabilities(runtime: Runtime, stack: LifecycleStack) -> None:
    """Just before event_sources (which stay last, to unwind first): every feature, plugin and
    channel is in place, so the first snapshot (announced as capability_* events) is the whole
    set; later changes are announced as the facts behind them are observed.
    """
    stack.push("capabilities", runtime.capabilities.stop)
    await runtime.capabilities.start()


async def start_tools(runtime: Runtime, stack: LifecycleStack) -> None:
    """Before the plugin host: built-in names are claimed first, so a plugin tool that clashes
    fails that plugin alone (its status shows why) instead of shadowing a built-in or failing
    boot. The workspace is where relative tool paths start. The tools themselves are
    built on first use (idle memory).
    """
    from aman.tools.builtin import BUILTIN_TOOL_NAMES
    from aman.tools.model import tool_roots

    tool_roots(runtime.settings)[0].mkdir(parents=True, exist_ok=True)

    async def unregister() -> None:
        runtime.tools.unregister_source("builtin")

    stack.push("tools", unregister)
    # Detached exec runs outlive their call; stopping the daemon kills their process groups.
    processes: list[DetachedProcesses] = []  # the one the tools got, once they are built

    async def stop_detached() -> None:
        for running in processes:
            await running.stop_all()

    def build() -> list[Tool]:
        from aman.tools.builtin import builtin_tools
        from aman.tools.builtin.exec import DetachedProcesses

        keeper = DetachedProcesses()
        processes.append(keeper)
        return builtin_tools(runtime.skills, keeper, lambda: runtime.chat)

    stack.push("detached_processes", stop_detached)
    runtime.tools.register_deferred("builtin", BUILTIN_TOOL_NAMES, build)


async def register_memory_tools(runtime: Runtime, stack: LifecycleStack) -> None:
    """Claim the memory tools' names before plugins load, like the built-in tools."""
    import dataclasses

    from aman.memory.tools import memory_tools

    async def unregister() -> None:
        runtime.tools.unregister_source("memory")

    stack.push("memory_tools", unregister)
    for tool in memory_tools(runtime.memory):
        runtime.tools.register(dataclasses.replace(tool, source="memory"))


async def start_memory(runtime: Runtime, stack: LifecycleStack) -> None:
    """Take in memory files edited while the daemon was down, index them, and watch them."""
    from aman.watching import FolderWatcher

    runtime.memory.root().mkdir(parents=True, exist_ok=True)
    await runtime.memory.start()
    watcher = FolderWatcher("memory", lambda: [runtime.memory.root()], runtime.memory.sync_all)
    runtime.memory.watcher = watcher
    watcher.start()
    stack.push("memory_watch", watcher.stop)


async def start_plugin_host(runtime: Runtime, stack: LifecycleStack) -> None:
    """Loads every enabled plugin (a failing one is marked failed alone; a failing default plugin
    fails boot) and registers their event sources, which the event_sources step of phase 4 then
    starts with the built-in ones.
    """
    async def stop_plugins() -> None:
        await runtime.plugins.stop(runtime)

    stack.push("plugin_host", stop_plugins)  # first: withdraws whatever a cut-short start added
    await runtime.plugins.start(runtime)


async def start_mcp(runtime: Runtime, stack: LifecycleStack) -> None:
    """Before capabilities, whose first snapshot then lists the servers (as connecting): this
    step only reads their configuration. They connect in the background once the daemon is
    ready, so a missing binary or a hanging server never delays readiness. Its stop ends every
    server's process group.
    """
    stack.push("mcp", runtime.mcp.stop)
    runtime.mcp.prepare()

    async def connect_when_ready() -> None:
        while not runtime.ready:  # phase 5 opens right after this step returns
            await asyncio.sleep(0.05)
        await runtime.mcp.start()

    runtime.tasks.spawn("mcp:start", connect_when_ready())
