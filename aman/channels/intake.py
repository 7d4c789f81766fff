"""ChannelIntake: one pulling event source per channel instance whose mode is poll or socket.

The registry says which instances exist and how each is configured; the intake keeps the
sources in step with it. Started by the boot step before ``event_sources`` (which starts what it
registered), it follows every change after that: a reload or ``POST /config/set`` that changes
an instance's mode, tokens, ``api_base`` or poll timeout stops and replaces that instance's
source alone, and a change of anything else (allow list, agent, ``chat``) leaves its connection
be (the inbox reads those per update). A platform whose plugin is disabled loses its sources.

With several daemons on one store, one of them pulls: the intake runs on the daemon that leads
the ``channel_intake`` role, and moves to another when that one stops or dies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aman.channels.polling import TelegramPoller
from aman.channels.pull import PullSource
from aman.channels.socket_mode import SlackSocket
from aman.config.reach import ChannelSettings, intake_mode

if TYPE_CHECKING:
    from aman.channels.inbox import ChannelInbox
    from aman.channels.model import CursorRepository
    from aman.channels.registry import ChannelRegistry
    from aman.clock import Clock
    from aman.core.lifecycle import TaskTracker
    from aman.events.sources import SourceRegistry

log = logging.getLogger(__name__)

Key = tuple[str, str]


def _connection(platform: str, config: ChannelSettings) -> tuple[object, ...] | None:
    """What a pulling source is built from; None when the instance does not pull."""
    mode = intake_mode(platform, config)
    if not config.enabled or (platform, mode) not in (("telegram", "poll"), ("slack", "socket")):
        return None
    return (mode, config.bot_token.get_secret_value(), config.app_token.get_secret_value(),
            config.api_base, config.poll_timeout_sec)


class ChannelIntake:
    """Keeps ``im:<platform>:<instance>`` sources on the source registry for pulling instances."""

    def __init__(self, registry: ChannelRegistry, inbox: ChannelInbox,
                 cursors: CursorRepository, sources: SourceRegistry, *, clock: Clock,
                 tasks: TaskTracker) -> None:
        self._registry = registry
        self._inbox = inbox
        self._cursors = cursors
        self._sources = sources
        self._clock = clock
        self._tasks = tasks
        self._active: dict[Key, PullSource] = {}
        self._started = False
        self._lock = asyncio.Lock()
        #: Called when a source's health changes (capabilities recompute).
        self.on_health: Callable[[], None] = lambda: None
        registry.listen(self._changed)

    def start(self) -> None:
        """Register a source per pulling instance; the event_sources step starts them."""
        self._started = True
        for platform in self._registry.platforms:
            for instance in self._registry.instances(platform):
                source = self._build(platform, instance)
                if source is not None:
                    self._sources.register(source)
                    self._active[(platform, instance)] = source

    async def lead(self) -> None:
        """Register and start the sources: this daemon pulls for every daemon on the store (two
        pollers on one bot take each other's updates away). At boot the event_sources step
        would start them too; a daemon taking the role over later has nobody else to."""
        async with self._lock:
            self.start()
            for source in list(self._active.values()):
                await source.start()
        self.on_health()

    async def stop(self) -> None:
        """Stop and unregister every source (event_sources stopped them already at shutdown)."""
        self._started = False
        async with self._lock:
            for key in list(self._active):
                await self._drop(key)

    def source(self, platform: str, instance: str) -> PullSource | None:
        """The pulling source of an instance, if it pulls."""
        return self._active.get((platform, instance))

    def health(self, platform: str, instance: str) -> str | None:
        """``ok``, ``degraded`` or ``failed`` for a pulling instance; None for a webhook one."""
        source = self._active.get((platform, instance))
        return None if source is None else source.health_status()

    def _changed(self, platform: str, instance: str | None) -> None:
        """Registry listener: an instance (or, with None, a whole platform) changed."""
        if not self._started:
            return
        self._tasks.spawn(f"im-intake:sync:{platform}", self.sync(platform, instance))

    async def sync(self, platform: str, instance: str | None = None) -> None:
        """Bring the sources of ``platform`` (one instance, or all) in step with the registry."""
        async with self._lock:
            if not self._started:
                return
            served = platform in self._registry.platforms
            names = ([instance] if instance is not None else sorted(
                {i for p, i in self._active if p == platform}
                | set(self._registry.instances(platform) if served else ())))
            for name in names:
                await self._sync_one(platform, name)

    async def _sync_one(self, platform: str, instance: str) -> None:
        key = (platform, instance)
        current = self._active.get(key)
        config = self._config(platform, instance)
        wanted = None if config is None else _connection(platform, config)
        if current is not None and wanted is not None and config is not None \
                and _connection(platform, current.channel_config) == wanted:
            current.channel_config = config  # nothing that touches the connection changed
            return
        if current is not None:
            await self._drop(key)
        source = self._build(platform, instance)
        if source is None:
            return
        self._sources.register(source)
        self._active[key] = source
        await source.start()
        log.info("%s: intake (re)started in mode %s", source.id, source.config["mode"])
        self.on_health()

    async def _drop(self, key: Key) -> None:
        source = self._active[key]
        try:
            await source.stop()
        finally:
            if any(s is source for s in self._sources.list()):
                self._sources.unregister(source.id)
            del self._active[key]  # gone from both at once, as far as readers can tell
        self.on_health()

    def _config(self, platform: str, instance: str) -> ChannelSettings | None:
        if platform not in self._registry.platforms:
            return None
        if instance not in self._registry.instances(platform):
            return None
        return self._registry.get(platform, instance).config

    def _build(self, platform: str, instance: str) -> PullSource | None:
        config = self._config(platform, instance)
        if config is None or _connection(platform, config) is None:
            return None
        if platform == "telegram":
            return TelegramPoller(instance, config, inbox=self._inbox, clock=self._clock,
                                  tasks=self._tasks, on_health=self._health_changed,
                                  cursors=self._cursors)
        return SlackSocket(instance, config, inbox=self._inbox, clock=self._clock,
                           tasks=self._tasks, on_health=self._health_changed)

    def _health_changed(self) -> None:
        self.on_health()
