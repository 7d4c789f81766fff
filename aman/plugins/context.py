"""PluginContext: everything a plugin's hooks may reach, and nothing more.

Each plugin gets its own context, built by the host when the plugin loads and passed as
``context`` to every hook (``register_*``, ``startup``, ``shutdown``, ``register_capabilities``).
What is on it is the plugin API; the rest of the daemon is not, so it can change without
breaking plugins. The context speaks for one plugin: facts it emits carry ``plugin:<name>`` as
source, its bus subscriptions are named ``plugin:<name>:<subscriber>`` and are removed when the
plugin is disabled, its logger is ``aman.plugin.<name>`` and it reads only its own settings.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aman.clock import Clock
from aman.core.lifecycle import Spawner

if TYPE_CHECKING:
    from aman.events.filters import EventMatcher
    from aman.events.model import Event
    from aman.events.subscribers import PublishResult
    from aman.tools.approvals import Decision
    from aman.tools.model import Sensitivity

__all__ = ["Approvals", "PluginBus", "PluginContext", "Spawner", "ToolLookup"]

Handler = Callable[["Event"], Awaitable[None]]
Unsubscribe = Callable[[], None]


class Bus(Protocol):
    """The part of the event bus a plugin context wraps."""

    async def publish(self, event: Event, *, internal: bool = False) -> PublishResult:
        """Accept an event for delivery."""

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = ...,
             cause: Event | None = None) -> None:
        """Publish a fact in the background."""

    def subscribe(self, name: str, handler: Handler, event_filter: EventMatcher | None = None,
                  *, timeout: float | None = None) -> Unsubscribe:
        """Deliver matching events to ``handler``; return the undo."""


class ToolLookup(Protocol):
    """What a plugin may read of the tool registry (it adds tools with ``register_tools``)."""

    def names(self) -> list[str]:
        """Names of every tool the agent may be offered."""

    def listing(self) -> list[dict[str, Any]]:
        """Every tool as ``GET /tools`` lists it."""


class Approvals(Protocol):
    """Asking a human (or the rules) whether a tool call may run."""

    async def request(self, *, tool: str, arguments: dict[str, Any], sensitivity: Sensitivity,
                      call_id: str, session_id: str | None, agent_id: str | None) -> Decision:
        """Decide whether the call may run, asking a human when its rules say so."""


class Refreshable(Protocol):
    """The capability map, which a plugin may ask to look again."""

    def refresh(self) -> None:
        """Recompute soon (coalesced)."""


class PluginBus:
    """The event bus as one plugin sees it: publish, emit facts, subscribe."""

    def __init__(self, bus: Bus, plugin: str) -> None:
        self._bus = bus
        self._plugin = plugin
        self._subscriptions: dict[str, Unsubscribe] = {}

    @property
    def source(self) -> str:
        """The source of the facts this plugin emits: ``plugin:<name>``."""
        return f"plugin:{self._plugin}"

    async def publish(self, event: Event) -> PublishResult:
        """Publish an event (stored, delivered, retried, dead-lettered like any other)."""
        return await self._bus.publish(event)

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        """Publish a fact in the background, with this plugin as its source."""
        self._bus.emit(event_type, payload, source=self.source)

    def subscribe(self, name: str, handler: Handler, event_filter: EventMatcher | None = None,
                  *, timeout: float | None = None) -> Unsubscribe:
        """Deliver matching events to ``handler`` as ``plugin:<plugin>:<name>``; return the undo.

        Every subscription still held when the plugin is disabled is removed then.
        """
        full = f"{self.source}:{name}"
        undo = self._bus.subscribe(full, handler, event_filter, timeout=timeout)

        def unsubscribe() -> None:
            if self._subscriptions.pop(full, None) is not None:
                undo()

        self._subscriptions[full] = undo
        return unsubscribe

    def close(self) -> None:
        """Remove every subscription of the plugin (the host calls this on disable)."""
        subscriptions, self._subscriptions = self._subscriptions, {}
        for undo in subscriptions.values():
            undo()


@dataclass(frozen=True, kw_only=True, eq=False)
class PluginContext:
    """What one plugin's hooks receive as ``context``."""

    #: The plugin's name (its ``/api/v1/<name>/`` prefix).
    name: str
    #: Publish events, emit facts and subscribe, as this plugin.
    bus: PluginBus
    #: The runtime's clock (``now_ms()``, ``monotonic()``); a test clock in tests.
    clock: Clock
    #: ``spawn(name, coro)``: background work the runtime tracks and cancels on stop.
    tasks: Spawner
    #: The tools the agent may call (read-only; contribute with ``register_tools``).
    tools: ToolLookup
    #: Tool-call approvals: ``await approvals.request(...)`` returns the decision.
    approvals: Approvals
    #: ``aman.plugin.<name>``: what the plugin logs, under its own name.
    log: logging.Logger = field(init=False)
    _config: Callable[[], Mapping[str, Any]]
    _refresh_capabilities: Callable[[], None]

    def __post_init__(self) -> None:
        object.__setattr__(self, "log", logging.getLogger(f"aman.plugin.{self.name}"))

    @property
    def config(self) -> dict[str, Any]:
        """This plugin's settings: ``plugins.config.<name>`` with the manifest's defaults."""
        return dict(self._config())

    def refresh_capabilities(self) -> None:
        """Ask ``register_capabilities`` again soon: the plugin's own health changed."""
        self._refresh_capabilities()

    def config_for(self, name: str) -> dict[str, Any]:
        """This plugin's settings by name; a plugin may read only its own."""
        if name != self.name:
            raise PermissionError(f"plugin {self.name!r} may read only its own settings, "
                                  f"not those of {name!r}")
        return self.config
