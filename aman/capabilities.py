"""CapabilityService: which features are live, who provides them, and how healthy each is.

``GET /capabilities`` serves ``capability → [{capability, plugin, version, status}]``:
the core features (``chat``, ``llm``, ``tools``, ``workflows``, ``cron``, ``explore``), one
``im:<platform>:<instance>`` per configured IM channel, and whatever enabled plugins return from
the ``register_capabilities`` hook. Status is ``healthy``, ``degraded`` (configured but failing
right now: the LLM backend is down, a channel's last send failed) or ``error`` (cannot work as
configured: no LLM provider, no explore source, a disabled channel).

Changes are not polled for. The service observes the bus and recomputes after the facts that can
change a status (``llm.backend_down`` / ``llm.backend_recovered``, ``im:delivered`` /
``im:delivery_failed``, ``config_changed``, agent and plugin changes), diffs against its last
snapshot and publishes only what changed: ``capability_available`` / ``capability_removed`` per
entry and one ``capability_registry_updated`` ``{available, added, removed, changed}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aman.core.phases import Phase
from aman.events.types import PLUGIN_STATE_CHANGED, EventTable
from aman.llm.health import default_agent_provider
from aman.llm.provider import LLMNotConfiguredError
from aman.llm.registry import BACKEND_DOWN, BACKEND_RECOVERED
from aman.mcp.model import EVENT_TYPES as MCP_EVENT_TYPES
from aman.plugins.records import PluginLoadError

if TYPE_CHECKING:
    from aman.channels.registry import ChannelRegistry
    from aman.config.settings import Settings
    from aman.core.lifecycle import TaskTracker
    from aman.events.bus import EventBus
    from aman.events.model import Event
    from aman.events.subscribers import Unsubscribe
    from aman.llm.registry import ProviderRegistry
    from aman.plugins.host import PluginHost

log = logging.getLogger(__name__)

HEALTHY, DEGRADED, ERROR = "healthy", "degraded", "error"
STATUSES = (HEALTHY, DEGRADED, ERROR)
SOURCE = "system:capabilities"
CAPABILITY_AVAILABLE = "capability_available"
CAPABILITY_REMOVED = "capability_removed"
REGISTRY_UPDATED = "capability_registry_updated"
#: Every type this module emits, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (CAPABILITY_AVAILABLE, "A provider of a capability appeared or changed status."),
    (CAPABILITY_REMOVED, "A provider of a capability went away."),
    (REGISTRY_UPDATED, "The capability map changed; payload lists added, removed and changed."),
)
#: The plugin named by core features, and by the built-in IM channels (their default plugin).
CORE_PLUGIN = "core"
CHANNELS_PLUGIN = "core-channels"
MCP_PLUGIN = "core-mcp"
_MCP_STATUS = {"ready": HEALTHY, "connecting": DEGRADED}
HOOK = "register_capabilities"
#: Facts of the IM outbound sender (aman/channels/outbox.py); named here, not imported, so this
#: module does not load the channel senders.
IM_DELIVERED = "im:delivered"
IM_DELIVERY_FAILED = "im:delivery_failed"
#: Facts after which some status may differ.
_TRIGGERS = frozenset({BACKEND_DOWN, BACKEND_RECOVERED, IM_DELIVERED, IM_DELIVERY_FAILED,
                       "config_changed", "agent:registered", "agent:removed",
                       PLUGIN_STATE_CHANGED, *(kind for kind, _ in MCP_EVENT_TYPES)})
#: A plugin's awaitable answer to the hook is given up on after this long (the plugin is then
#: treated as one whose hook raised).
_HOOK_TIMEOUT_SEC = 5.0
#: Boot waits this long at most for the first snapshot's facts to be dispatched, so readiness
#: opens on a quiet bus (a subscriber added once ready does not get boot's announcements).
_FIRST_SNAPSHOT_WAIT_SEC = 2.0
_MAX_NAME = 200


@dataclass(frozen=True)
class Capability:
    """One provider of one capability, with its health."""

    capability: str
    plugin: str
    version: str
    status: str = HEALTHY

    def to_json(self) -> dict[str, str]:
        """Wire shape."""
        return {"capability": self.capability, "plugin": self.plugin, "version": self.version,
                "status": self.status}


Snapshot = dict[str, list[Capability]]


class CapabilityService:
    """Assembles the capability map and announces its changes."""

    def __init__(self, *, version: str, settings: Callable[[], Settings],
                 phase: Callable[[], Phase], llm: ProviderRegistry, channels: ChannelRegistry,
                 plugins: PluginHost, bus: EventBus, tasks: TaskTracker,
                 channel_health: Callable[[str, str], str | None] = lambda p, i: None) -> None:
        self._version = version
        self._settings = settings
        self._phase = phase
        self._llm = llm
        self._channels = channels
        #: A pulling instance's intake health (ok, degraded, failed); None for webhooks.
        self._channel_health = channel_health
        self._plugins = plugins
        self._bus = bus
        self._tasks = tasks
        #: MCP server name → state (connecting, ready, failed, disabled); see ``show_mcp``.
        self._mcp_states: Callable[[], Mapping[str, str]] = dict
        self._snapshot: Snapshot = {}
        self._listening = False
        self._unobserve: Unsubscribe | None = None
        self._lock = asyncio.Lock()
        self._dirty = False
        self._worker: asyncio.Task[None] | None = None
        #: (platform, instance) → whether its last outbound send went through.
        self._last_send: dict[tuple[str, str], bool] = {}
        #: Plugin → entries from its last good answer (shown as ``error`` while its hook raises).
        self._last_good: dict[str, list[Capability]] = {}
        #: Plugin → why its hook failed, while it fails.
        self.failures: dict[str, str] = {}
        self._fingerprint: tuple[object, ...] = ()
        self._undispatched = 0  # own facts emitted but not yet seen dispatched
        self._dispatched = asyncio.Event()

    # --- lifecycle (boot step ``capabilities``) --------------------------------------------

    async def start(self) -> None:
        """Observe the bus, then take the first snapshot, announcing every capability; returns
        once those facts are dispatched (or after a short wait), so boot ends on a quiet bus."""
        self._snapshot, self._listening = {}, True
        self._undispatched = 0
        self._dispatched.set()  # cleared when the first snapshot announces something
        self._unobserve = self._bus.observe(self._observe)
        await self.update()
        try:
            await asyncio.wait_for(self._dispatched.wait(), _FIRST_SNAPSHOT_WAIT_SEC)
        except TimeoutError:
            log.warning("capabilities: %d boot announcement(s) not dispatched after %.0fs",
                        self._undispatched, _FIRST_SNAPSHOT_WAIT_SEC)

    async def stop(self) -> None:
        """Stop observing; a pending recompute is cancelled."""
        self._listening = False
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    # --- reading ---------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The map as last announced (what the ``capability_*`` events have said so far)."""
        return self._snapshot

    async def current(self) -> dict[str, list[dict[str, str]]]:
        """The map as computed now (``GET /capabilities``); a difference from the last snapshot
        is announced first, so a change nothing announced on the bus is still published."""
        return {name: [e.to_json() for e in entries]
                for name, entries in (await self.update()).items()}

    def refresh(self) -> None:
        """Recompute soon (coalesced), e.g. after a plugin's own health changed."""
        if not self._listening:
            return
        self._dirty = True
        if self._worker is None or self._worker.done():
            self._worker = self._tasks.spawn("capabilities:refresh", self._drain())

    async def update(self) -> Snapshot:
        """Recompute, and once listening, announce the difference from the last snapshot."""
        async with self._lock:
            fresh = await self.compute()
            if self._listening:
                self._announce(self._snapshot, fresh)
                self._snapshot = fresh
                self._fingerprint = self._fingerprint_now()
            return fresh

    async def compute(self) -> Snapshot:
        """Every capability entry, grouped by name; empty before storage is open (phase 2)."""
        if self._phase() < Phase.STORAGE:
            return {}
        grouped: Snapshot = {}
        for entry in [*self._core(), *self._channel_entries(), *self._mcp_entries(),
                      *await self._plugin_entries()]:
            grouped.setdefault(entry.capability, []).append(entry)
        return {name: sorted(grouped[name], key=lambda e: e.plugin) for name in sorted(grouped)}

    # --- core features ---------------------------------------------------------------------

    def _core(self) -> list[Capability]:
        settings = self._settings()
        statuses = {
            "chat": self._chat_status(settings),
            "llm": self._llm_status(settings),
            "tools": HEALTHY,
            "workflows": HEALTHY,
            "cron": HEALTHY,
            # POST /explore/start answers 400 no_sources without a feed to read.
            "explore": HEALTHY if settings.info_hub.sources else ERROR,
        }
        return [Capability(name, CORE_PLUGIN, self._version, status)
                for name, status in statuses.items()]

    def _chat_status(self, settings: Settings) -> str:
        """The default agent's provider: missing → error, down → degraded."""
        target = default_agent_provider(settings)
        if target is None or target not in settings.llm.providers:
            return ERROR
        return self._provider_status(target)

    def _llm_status(self, settings: Settings) -> str:
        """Worst of the configured providers; none configured → error."""
        providers = settings.llm.providers
        if not providers:
            return ERROR
        found = {self._provider_status(name) for name in providers}
        return next(s for s in (ERROR, DEGRADED, HEALTHY) if s in found)

    def _provider_status(self, name: str) -> str:
        health = self._llm.health(name)
        if health.last_probe_ok is False and isinstance(health.last_error, LLMNotConfiguredError):
            return ERROR  # its backend cannot even load (SDK missing, bad config)
        return DEGRADED if health.down else HEALTHY

    def _channel_entries(self) -> list[Capability]:
        """One entry per configured instance of a served platform; a disabled one is error, and so
        is one whose intake failed (the platform refused its token or mode); a failing send or
        an intake backing off or paused is degraded."""
        entries = []
        for platform in self._channels.platforms:
            for instance in self._channels.instances(platform):
                config = self._channels.get(platform, instance).config
                intake = self._channel_health(platform, instance)
                if not config.enabled or intake == "failed":
                    status = ERROR
                elif self._last_send.get((platform, instance)) is False or intake == "degraded":
                    status = DEGRADED
                else:
                    status = HEALTHY
                entries.append(Capability(f"im:{platform}:{instance}", CHANNELS_PLUGIN,
                                          self._version, status))
        return entries

    def show_mcp(self, states: Callable[[], Mapping[str, str]]) -> None:
        """List one ``mcp:<server>`` entry per server ``states`` names."""
        self._mcp_states = states

    def _mcp_entries(self) -> list[Capability]:
        """One ``mcp:<server>`` per configured MCP server: ready is healthy, connecting is
        degraded, failed or disabled is error."""
        return [Capability(f"mcp:{name}", MCP_PLUGIN, self._version, _MCP_STATUS.get(state, ERROR))
                for name, state in self._mcp_states().items()]

    # --- plugins ---------------------------------------------------------------------------

    async def _plugin_entries(self) -> list[Capability]:
        """Each enabled plugin's answer to ``register_capabilities``, asked alone."""
        host = self._plugins
        versions = {view["name"]: str(view["version"]) for view in host.views()}
        entries: list[Capability] = []
        enabled = host.names
        self.failures = {n: why for n, why in self.failures.items() if n in enabled}
        for name in enabled:
            try:
                answer = await host.call_plugin_hook(name, HOOK, timeout=_HOOK_TIMEOUT_SEC)
                found = plugin_entries(answer, name, versions.get(name, ""))
            except Exception as exc:  # noqa: BLE001 - isolation: any error is this plugin's alone
                self._plugin_failed(name, exc)
                entries.extend(replace(e, status=ERROR) for e in self._last_good.get(name, []))
                continue
            self.failures.pop(name, None)
            self._last_good[name] = found
            entries.extend(found)
        return entries

    def _plugin_failed(self, name: str, exc: Exception) -> None:
        reason = (exc.message if isinstance(exc, PluginLoadError)
                  else f"hook {HOOK} raised {type(exc).__name__}: {exc}")
        if self.failures.get(name) != reason:  # once per distinct error, not per recompute
            log.error("plugin %s: %s", name, reason)
        self.failures[name] = reason

    # --- change detection ------------------------------------------------------------------

    def _observe(self, event: Event) -> None:
        """Bus observer: note IM send outcomes; recompute after a relevant fact."""
        kind = event.event_type
        if event.source == SOURCE:
            self._undispatched = max(0, self._undispatched - 1)
            if not self._undispatched:
                self._dispatched.set()
            return
        if kind in (IM_DELIVERED, IM_DELIVERY_FAILED):
            payload = event.payload
            key = (str(payload.get("platform", "")), str(payload.get("instance", "")))
            self._last_send[key] = kind == IM_DELIVERED
        # Enabling a plugin or reloading a channel publishes no fact of its own; a cheap look at
        # who is enabled and configured notices it with the next event (and GET always does).
        if kind in _TRIGGERS or self._fingerprint_now() != self._fingerprint:
            self.refresh()

    def _fingerprint_now(self) -> tuple[object, ...]:
        channels = self._channels
        return (tuple(self._plugins.names),
                tuple((p, i, channels.get(p, i).config.enabled)
                      for p in channels.platforms for i in channels.instances(p)))

    async def _drain(self) -> None:
        while self._dirty and self._listening:
            self._dirty = False
            try:
                await self.update()
            except Exception:
                log.exception("recomputing capabilities failed")

    def _announce(self, old: Snapshot, new: Snapshot) -> None:
        """Publish the difference between two snapshots, or nothing when they are equal."""
        added = sorted(new.keys() - old.keys())
        removed = sorted(old.keys() - new.keys())
        changed = sorted(name for name in new.keys() & old.keys() if new[name] != old[name])
        if not (added or removed or changed):
            return
        before = {(e.capability, e.plugin): e for entries in old.values() for e in entries}
        after = {(e.capability, e.plugin): e for entries in new.values() for e in entries}
        facts: list[tuple[str, dict[str, Any]]] = [
            (CAPABILITY_AVAILABLE, after[key].to_json())
            for key in sorted(after.keys() - before.keys())]
        facts += [(CAPABILITY_REMOVED, before[key].to_json())
                  for key in sorted(before.keys() - after.keys())]
        facts.append((REGISTRY_UPDATED, {"available": sorted(new), "added": added,
                                         "removed": removed, "changed": changed}))
        self._undispatched += len(facts)
        self._dispatched.clear()
        for event_type, payload in facts:
            self._bus.emit(event_type, payload, source=SOURCE)


def plugin_entries(value: object, plugin: str, version: str) -> list[Capability]:
    """Validate what a plugin returned: ``Capability`` values, ``{capability, status?,
    version?}`` dicts or bare names; ``plugin`` is always the plugin's own name."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    entries = []
    for item in items:
        fields: Mapping[str, Any]
        if isinstance(item, Capability):
            fields = item.to_json()
        elif isinstance(item, dict):
            fields = item
        elif isinstance(item, str):
            fields = {"capability": item}
        else:
            raise TypeError(f"a capability must be a dict, a Capability or a name; got "
                            f"{type(item).__name__}")
        name = fields.get("capability")
        if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
            raise ValueError(f"capability name must be a non-empty string of at most {_MAX_NAME} "
                             f"characters; got {name!r}")
        status = str(fields.get("status") or HEALTHY).lower()
        if status not in STATUSES:
            raise ValueError(f"capability {name!r}: status {fields.get('status')!r} is not one of "
                             f"{', '.join(STATUSES)}")
        entries.append(Capability(name, plugin, str(fields.get("version") or version), status))
    return entries
