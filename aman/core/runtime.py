"""Runtime: the composition root holding settings, storage, services and the boot/stop machinery.

The Runtime is a container of references plus the start/stop state machine; behaviour lives in
the services it wires. Building it performs no I/O: storage opens in boot phase 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aman import __version__
from aman.agents import AgentService, configured_agents
from aman.audit.log import AuditLog
from aman.auth.limiter import FailureLimiter
from aman.auth.service import KeyService
from aman.channels.conversations import ConversationService
from aman.channels.inbox import ChannelInbox
from aman.channels.intake import ChannelIntake
from aman.channels.outbox import OUT_PREFIX, ChannelOutbox
from aman.channels.registry import ChannelRegistry
from aman.chat.definition import session_definitions
from aman.chat.react import ToolLoop
from aman.chat.sessions import ChatService
from aman.clock import Clock, SystemClock
from aman.cluster.service import Cluster, default_name
from aman.config.appliers import live_appliers
from aman.config.changes import ConfigService
from aman.config.loader import reread_settings
from aman.config.override import OVERRIDE_FILE_NAME
from aman.config.settings import Settings
from aman.core.boot import run_boot
from aman.core.event_types import declared_event_types
from aman.core.lifecycle import LifecycleStack, StopErrors, TaskTracker
from aman.core.lock import InstanceLock
from aman.core.mcp_wiring import build_mcp
from aman.core.phases import Phase, PhaseState, RuntimeState
from aman.cron.service import CronService
from aman.errors import InvalidStateError, StartupError
from aman.events import telemetry
from aman.events.backpressure import BackpressureReporter, RateLimiter
from aman.events.bus import EventBus
from aman.events.dlq import DeadLetterService
from aman.events.forwarding import WebhookForwarders
from aman.events.retry import RetryPolicy
from aman.events.sources import SourceRegistry
from aman.events.stream import StreamHub
from aman.events.stream import families as stream_families
from aman.heartbeat.service import HeartbeatService
from aman.llm.health import default_agent_provider
from aman.llm.registry import ProviderRegistry
from aman.memory.service import MemoryService
from aman.memory.turns import MemoryTurns
from aman.metrics import Metrics
from aman.notifications.service import NotificationService
from aman.plugins.defaults import default_plugins
from aman.plugins.host import PluginHost
from aman.plugins.records import Limits
from aman.skills.registry import SkillService
from aman.soul.service import SoulService
from aman.store.backend import open_backend
from aman.tools.approvals import ApprovalService
from aman.tools.registry import ToolRegistry
from aman.usage.service import UsageService
from aman.workflows.engine import WorkflowService

if TYPE_CHECKING:
    from aman.explore.pipeline import ExploreService
    from aman.idle.runs import IdleRunService

log = logging.getLogger(__name__)

#: Fraction of drain_timeout_sec any single stop callback may use, so one stuck component
#: cannot eat the whole budget and starve the ones after it.
_PER_ITEM_SHARE = 0.5


class Runtime:
    """Everything one daemon instance owns."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        instance_lock: InstanceLock | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.settings = settings
        #: The --config file the daemon started with (None: AMAN_CONFIG or the shipped default);
        #: POST /im-channel/{platform}/{instance}/reload re-reads it.
        self.config_path = config_path
        self.version = __version__
        self.clock: Clock = clock or SystemClock()
        self.metrics = Metrics()
        self.phases = PhaseState()
        self.instance_lock = instance_lock or InstanceLock(settings.runtime.dir)
        # The store store.url names (the SQLite file by default); opened in phase 2.
        daemon_name = settings.cluster.node_name or default_name(settings.http.bind)
        self.store = open_backend(settings.store.url, settings.database_path, daemon=daemon_name)
        self.db = self.store.db
        self.audit = AuditLog(
            self.store.audit,
            self.clock,
            on_record=lambda record: self.metrics.audit_records.labels(record.outcome).inc(),
        )
        # Scoped API keys; http.token stays the bootstrap admin key. Loaded in phase 2.
        self.keys = KeyService(
            self.store.api_keys, self.clock,
            token=lambda: self.settings.http.token.get_secret_value(),
            config=lambda: self.settings.auth, known_agents=lambda: self.settings.agents.keys(),
            failures=FailureLimiter(max_failures=settings.http.auth_failure_limit,
                                    block_ms=int(settings.http.auth_block_sec * 1000)))
        self.plugins = PluginHost(
            dirs=settings.plugins_dirs, install_dir=settings.runtime.dir / "plugins",
            state=self.store.plugins, clock=self.clock,
            defaults=default_plugins(lambda: self.settings.sources),
            limits=Limits(settings.plugins.max_archive_bytes, settings.plugins.max_archive_files))
        self.tasks = TaskTracker()
        self.writer = self.store.writer
        self.event_log = self.store.events
        # This daemon among those sharing the store: claims, takeover, leadership, the feed.
        self.cluster = Cluster(
            members=self.store.members, coordination=self.store.coordination,
            events=self.event_log, clock=self.clock, tasks=self.tasks, name=daemon_name,
            url=f"http://{settings.http.bind}", heartbeat_sec=settings.cluster.heartbeat_sec,
            dead_after_sec=settings.cluster.dead_after_sec)
        self.event_types = declared_event_types()
        bus_settings = settings.event_bus
        self.rate_limiter = RateLimiter(bus_settings.rate_limit_per_sec,
                                        bus_settings.rate_limit_burst)
        self.bus = EventBus(
            self.event_log,
            clock=self.clock,
            tasks=self.tasks,
            types=self.event_types,
            max_queue_size=bus_settings.max_queue_size,
            retry=RetryPolicy(tuple(bus_settings.retry_backoff_ms), bus_settings.max_retries),
            handler_timeout_sec=bus_settings.handler_timeout_sec,
            workers=bus_settings.workers,
            rate_limiter=self.rate_limiter,
            dedup_window_ms=bus_settings.dedup_window_ms,
        )
        self.dlq = DeadLetterService(
            self.store.dlq,
            self.bus,
            self.clock,
            self.tasks,
            ttl_days=settings.dlq.ttl_days,
            max_manual_retries=settings.dlq.max_manual_retries,
        )
        self.bus.dead_letters = self.dlq
        # Subscribes to the bus's facts in phase 3 (notifications).
        self.notifications = NotificationService(
            self.store.notifications,
            self.clock,
            max_stored=settings.notifications.max_stored,
        )
        # Inbound IM webhooks: configured instances, and the inbox that verifies and publishes.
        self.channels = ChannelRegistry(settings.channels)
        self.channel_inbox = ChannelInbox(self.channels, publish=self.bus.publish,
                                          audit=self.audit, clock=self.clock)
        # Sources are optional: each starts and stops within its own short budget.
        self.sources = SourceRegistry(
            timeout_sec=min(5.0, settings.runtime.drain_timeout_sec / 4))
        # Channel instances that pull their messages (Telegram polling, Slack Socket Mode), each
        # an event source; registered in phase 4 just before the event sources start.
        self.channel_intake = ChannelIntake(
            self.channels, self.channel_inbox, self.store.cursors,
            self.sources, clock=self.clock, tasks=self.tasks)
        self.forwarders = WebhookForwarders(settings.forwarders)
        # Skills from watched folders; event skills subscribe to the bus in phase 4.
        self.skills = SkillService(self.store.skills, self.bus, self.event_log,
                                   self.event_types, self.clock, settings.skills_dirs)
        # Workflow definitions from watched folders; instances persisted and driven by bus events;
        # a workflow's skill action runs an event skill, a skill's workflow action starts one.
        self.workflows = WorkflowService(
            self.store.workflows, self.bus, self.event_log, self.clock, settings.workflows_dirs,
            holds=self.cluster.holds if self.cluster.shared else None)
        self.workflows.run_skill = self.skills.invoke
        self.skills.runner.start_workflow = self.workflows.start_for
        # Cron jobs: stored in SQLite, caught up and timed in phase 4; APScheduler loads only
        # once a job is enabled.
        self.cron = CronService(self.store.cron, self.bus,
                                self.event_types, self.clock, self.tasks, settings=settings.cron)
        # The persona: loaded and watched in phase 4; its prompt lists the LLM-visible skills.
        self.soul = SoulService(
            dirs=settings.souls_dirs, active=settings.souls.active,
            repository=self.store.soul, audit=self.audit, bus=self.bus,
            clock=self.clock,
            skills_index=lambda: self.skills.llm_visible() if hasattr(self, "skills") else [],
        )
        self.bus.on_level_change = BackpressureReporter(
            emit=self.bus.emit, queue=lambda: (self.bus.pending, self.bus.max_queue_size),
            record_audit=lambda action, detail: self.audit.record_quietly(
                action, target="event_bus", detail=detail),
            spawn=self.tasks.spawn).changed
        self.metrics.add_collector(lambda: telemetry.families(self.bus, self.dlq))
        # The SSE fan-out; attached to the bus in phase 3.
        self.stream = StreamHub(self.event_log, client_buffer=settings.stream.client_buffer,
                                replay_limit=settings.stream.replay_limit)
        self.metrics.add_collector(lambda: stream_families(self.stream))
        # Agents: who a chat talks to, with status; settled and announced in phase 4.
        self.agents = AgentService(lambda: self.settings, self.bus, self.clock)
        # Tool approvals: stored requests answered over /tool-auth, per-session memory.
        self.approvals = ApprovalService(self.store.tool_auth, self.bus,
                                         self.audit, self.clock, lambda: self.settings.tools)
        # LLM providers by name, built on first use.
        self.llm = ProviderRegistry(lambda: self.settings.llm, bus=self.bus, metrics=self.metrics,
                                    clock=self.clock,
                                    probe_target=lambda: default_agent_provider(self.settings))
        # Chat sessions: built-in message-session workflow instances with stored messages; the
        # definitions are registered here, before boot loads definitions.
        for definition in session_definitions():
            self.workflows.register_builtin(definition)
        # Tools by name (built-ins and plugin tools), registered in phase 3.
        self.tools = ToolRegistry(lambda: self.settings, self.bus, self.audit, self.clock)
        # Usage of every model call, and the budgets; loaded in phase 4 before chat.
        self.usage = UsageService(
            self.store.usage, self.clock,
            prices=lambda name: (p.prices if (p := self.settings.llm.providers.get(name))
                                 else None),
            budgets=lambda: self.settings.budgets, warn=self._warn_budget,
            spawn=self.tasks.spawn, metrics=self.metrics)
        self.llm.on_call = self.usage.record
        self.chat_tools = ToolLoop(tools=self.tools, approvals=self.approvals, bus=self.bus,
                                   settings=lambda: self.settings)
        self.chat = ChatService(
            repo=self.store.chat, workflows=self.workflows,
            bus=self.bus, agents=self.agents, llm=self.llm, soul=self.soul, skills=self.skills,
            tasks=self.tasks, clock=self.clock, holds=self.cluster.holds,
            settings=lambda: self.settings, approvals=self.approvals, usage=self.usage,
            tools=self.chat_tools)
        self.metrics.add_collector(self.chat.families)
        # IM conversations: channel messages become session messages, replies go back.
        conversations = self.store.conversations
        self.channel_outbox = ChannelOutbox(self.channels, conversations, self.bus, self.clock,
                                            self.cluster.hand_off("channel_outbox", OUT_PREFIX))
        self.conversations = ConversationService(
            registry=self.channels, repo=conversations, outbox=self.channel_outbox,
            chat=self.chat, approvals=self.approvals, bus=self.bus, clock=self.clock,
            holds=self.cluster.holds)
        # Long-term memory: files per agent, versioned and watched (phase 4); its tools are
        # registered in phase 3 and its prompt block and pre-trim flush join every turn.
        self.memory = MemoryService(
            self.store.memory, audit=self.audit, bus=self.bus, clock=self.clock,
            agents=lambda: configured_agents(self.settings),
            channels=lambda: self.settings.channels,
            workspace=lambda: (self.settings.tools.workspace_dir
                               or self.settings.runtime.dir / "workspace"))
        self.chat.use_memory(MemoryTurns(self.memory, llm=self.llm, tools=self.tools,
                                         loop=self.chat_tools, bus=self.bus))
        # Heartbeats: agents checking in on their own; tickers start in phase 4.
        self.heartbeat = HeartbeatService(
            repo=self.store.heartbeat, chat=self.chat,
            usage=self.usage, outbox=self.channel_outbox, conversations=conversations,
            bus=self.bus, clock=self.clock, tasks=self.tasks,
            agents=lambda: configured_agents(self.settings),
            workspace=lambda: (self.settings.tools.workspace_dir
                               or self.settings.runtime.dir / "workspace"))
        # Live configuration changes (POST /config/set), applied by _live_appliers.
        self.config = ConfigService(
            settings=lambda: self.settings, swap=self._swap_settings,
            appliers=live_appliers(bus=self.bus, rate_limiter=self.rate_limiter, dlq=self.dlq,
                                   notifications=self.notifications, skills=self.skills,
                                   channels=self.channels, mcp=lambda: self.mcp),
            audit=self.audit, bus=self.bus, environ=os.environ,
            override_path=settings.runtime.dir / OVERRIDE_FILE_NAME,
            reread=lambda: reread_settings(self.config_path, self.settings))
        # Capabilities with live health; announced once the boot step listens. Imported
        # here, not at module level, to keep the module import light.
        from aman.capabilities import CapabilityService

        self.capabilities = CapabilityService(
            version=self.version, settings=lambda: self.settings, phase=lambda: self.phases.phase,
            llm=self.llm, channels=self.channels, plugins=self.plugins, bus=self.bus,
            tasks=self.tasks, channel_health=self.channel_intake.health)
        self.channel_intake.on_health = self.capabilities.refresh
        self.mcp = build_mcp(self)  # MCP servers: they connect in the background once ready
        #: (name, callback) run in phase 2 to re-queue work accepted before a crash.
        self.recovery_hooks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("event_bus", self._requeue_unfinished),
        ]
        self._stack = LifecycleStack()
        self._boot_task: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._explore: ExploreService | None = None
        self._idle: IdleRunService | None = None

    # --- state ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Phase 5 and accepting work."""
        return self.phases.ready

    @property
    def state(self) -> RuntimeState:
        """Starting, ready, stopping, stopped or failed."""
        return self.phases.state

    def set_phase(self, phase: Phase) -> None:
        """Move to ``phase`` and publish it to metrics."""
        self.phases.phase = phase
        if phase is Phase.READY and self.phases.state is RuntimeState.STARTING:
            self.phases.state = RuntimeState.READY
        self.metrics.phase.set(int(phase))
        self.metrics.ready.set(1 if self.ready else 0)

    def status(self) -> dict[str, Any]:
        """What /runtime/status serves."""
        return {**self.phases.snapshot(), "version": self.version,
                "cluster": self.cluster.status()}

    async def _requeue_unfinished(self) -> int:
        """Events accepted but not done before this daemon (or a dead one) stopped."""
        return self.bus.requeue(await self.cluster.recover())

    @property
    def explore(self) -> ExploreService:
        """Explore, built on first use so its package (and feedparser) stays off the
        boot path; its stop goes on the stack then, so it unwinds before chat and storage."""
        if self._explore is None:
            from aman.explore.pipeline import ExploreService

            self._explore = ExploreService(
                chat=self.chat, agents=self.agents, llm=self.llm, soul=self.soul, bus=self.bus,
                tasks=self.tasks, clock=self.clock,
                settings=lambda: self.settings.info_hub, budget=self.usage.check)
        if "explore" not in self._stack.names:  # again after a stop and start
            self._stack.push("explore", self._explore.stop)
        return self._explore

    @property
    def idle(self) -> IdleRunService:
        """Idle runs, built on first use so the package stays off the boot path."""
        if self._idle is None:
            from aman.idle.runs import IdleRunService

            self._idle = IdleRunService(skills=self.skills, agents=self.agents, chat=self.chat,
                                        bus=self.bus, settings=lambda: self.settings.idle,
                                        budget=self.usage.check)
        return self._idle

    def _swap_settings(self, settings: Settings) -> None:
        self.settings = settings

    async def _warn_budget(self, key: str, title: str, message: str) -> None:
        """One warning notification per key (agent and day): the key dedups it, restarts too."""
        from aman.notifications.model import Severity

        await self.notifications.create(severity=Severity.WARNING, category="budget",
                                        title=title, message=message, event_id=key)

    # --- start ---------------------------------------------------------------------------

    def start_in_background(self) -> asyncio.Task[None]:
        """Begin booting without waiting (the HTTP server must answer /health/live meanwhile)."""
        if self._boot_task is None or self._boot_task.done():
            if self.phases.state in (RuntimeState.READY, RuntimeState.STARTING):
                assert self._boot_task is not None
                return self._boot_task
            self._boot_task = asyncio.get_running_loop().create_task(self._boot(), name="boot")
        return self._boot_task

    async def start(self) -> None:
        """Boot to phase 5; idempotent; raise ``StartupError`` if a required step fails."""
        state = self.phases.state
        if state is RuntimeState.READY:
            return
        if state is RuntimeState.STOPPING:
            raise InvalidStateError(
                "the runtime is shutting down",
                hint="Wait until /runtime/status shows state 'stopped', then POST /agent/start.",
            )
        if state is RuntimeState.FAILED:
            await self._unwind()
        await asyncio.shield(self.start_in_background())
        if self.phases.state is RuntimeState.FAILED and self.phases.failure is not None:
            failure = self.phases.failure
            raise StartupError(
                f"boot failed in phase {failure.phase} at step {failure.step}: {failure.error}",
                code=failure.code,
                details={"failure": failure.to_json()},
            )

    async def _boot(self) -> None:
        self.phases.begin_boot()
        self.set_phase(Phase.ALIVE)
        started = self.clock.monotonic()
        try:
            await run_boot(self, self._stack)
        except StartupError:
            self.phases.state = RuntimeState.FAILED
            self.metrics.ready.set(0)
            return
        except asyncio.CancelledError:
            log.info("boot cancelled")
            raise
        self.metrics.boot_seconds.set(self.clock.monotonic() - started)
        log.info("runtime ready in %.3fs", self.clock.monotonic() - started)

    # --- stop ----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Close intake, then unwind everything that started, in reverse, within the drain timeout.

        Idempotent; concurrent callers wait for the same stop.
        """
        if self.phases.state is RuntimeState.STOPPED and not len(self._stack):
            return
        if self._stop_task is None or self._stop_task.done():
            self._stop_task = asyncio.get_running_loop().create_task(self._stop(), name="stop")
        await asyncio.shield(self._stop_task)

    async def _stop(self) -> None:
        # Stage 1: close intake. Readiness turns 503 at once; guards refuse new work.
        self.phases.state = RuntimeState.STOPPING
        self.bus.close_intake()
        self.metrics.ready.set(0)
        boot = self._boot_task
        if boot is not None and not boot.done():
            boot.cancel()
            await asyncio.gather(boot, return_exceptions=True)
        # Stages 2-4: each component's stop drains its own in-flight work and flushes its
        # writes; the stack runs them in reverse start order under one deadline.
        await self._unwind()
        self.phases.state = RuntimeState.STOPPED
        self.set_phase(Phase.ALIVE)
        log.info("runtime stopped")

    def end_streams(self) -> None:
        """End open SSE streams now: a stop signal arrived."""
        # Hypercorn waits up to its grace period for open responses before the lifespan stop
        # runs, so open streams would hold the exit for the whole period.
        self.stream.close_clients()

    async def _unwind(self) -> None:
        budget = self.settings.runtime.drain_timeout_sec
        deadline = asyncio.get_running_loop().time() + budget
        try:
            await self._stack.unwind(timeout_per_item=budget * _PER_ITEM_SHARE, deadline=deadline)
        except StopErrors as exc:
            log.error("shutdown finished with errors: %s", exc)
        await self.tasks.cancel_all(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
