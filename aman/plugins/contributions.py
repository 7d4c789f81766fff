"""What plugins contribute: the checks on hook results, refusing clashes, wiring them in and out.

The host collects each registration hook's results into ``Contributions``; this module checks
their shape, refuses ids another plugin (or the core) already holds, adds them to the runtime's
registries and takes them out again when the plugin is disabled.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aman.plugins.model import PluginRoute, UiPage
from aman.plugins.records import Contributions, PluginLoadError, PluginRecord

if TYPE_CHECKING:
    from aman.channels.base import ChannelAdapter
    from aman.channels.registry import ChannelRegistry
    from aman.clock import Clock
    from aman.config.settings import Settings
    from aman.core.lifecycle import TaskTracker
    from aman.events.bus import EventBus
    from aman.events.sources import SourceRegistry
    from aman.events.types import EventTypeRegistry
    from aman.plugins.context import Refreshable
    from aman.plugins.manifest import Manifest
    from aman.skills.registry import SkillService
    from aman.tools.approvals import ApprovalService
    from aman.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

_SOURCE_TIMEOUT_SEC = 5.0
#: The hooks whose results are a plugin's contributions, in the order they are called.
REGISTRATION_HOOKS = ("register_routes", "register_event_sources", "register_event_types",
                      "register_tools", "register_ui_pages", "register_skill_folders",
                      "register_channel_adapters")


class PluginWiring(Protocol):
    """What the host wires plugins into and builds their contexts from (the Runtime has it)."""

    settings: Settings
    bus: EventBus
    clock: Clock
    tasks: TaskTracker
    event_types: EventTypeRegistry
    sources: SourceRegistry
    channels: ChannelRegistry
    tools: ToolRegistry
    skills: SkillService
    approvals: ApprovalService

    @property
    def ready(self) -> bool:
        """Whether boot is over (a source added now must be started at once)."""

    @property
    def capabilities(self) -> Refreshable:
        """The capability map, which a plugin may ask to recompute."""


def collect(record: PluginRecord, found: dict[str, list[Any]]) -> Contributions:
    """Check each registration hook's results and gather them; ``PluginLoadError`` if bad."""
    return Contributions(
        routes=check_routes(found["register_routes"]),
        sources=check_sources(found["register_event_sources"]),
        event_types=check_event_types(found["register_event_types"]),
        tools=found["register_tools"],
        pages=check_pages(record.manifest, found["register_ui_pages"]),
        skill_dirs=[(record.path or Path.cwd()) / Path(p)
                    for p in found["register_skill_folders"]],
        channel_adapters=check_channel_adapters(found["register_channel_adapters"]))


class Owners:
    """Who holds each source id, page id, event type and channel platform."""

    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], str] = {}  # (kind, id) → plugin

    def claim(self, record: PluginRecord, c: Contributions, wiring: PluginWiring) -> None:
        """Refuse ids another plugin (or the core) already holds, naming both; else take them."""
        wanted = ([("source", s.id) for s in c.sources] + [("page", p.id) for p in c.pages]
                  + [("event type", t) for t, _ in c.event_types]
                  + [("channel platform", a.platform) for a in c.channel_adapters])
        # The types every feature declares in its table, and the sources already running.
        taken_by_core = {("event type", t) for t, _ in c.event_types
                         if wiring.event_types.core_owner(t) is not None}
        taken_by_core |= {("source", s.id) for s in wiring.sources.list()}
        for key in wanted:
            owner = self._owners.get(key) or ("the core" if key in taken_by_core else None)
            if owner is not None and owner != record.name:
                raise PluginLoadError(f"{key[0]} {key[1]!r} is already registered by "
                                      f"{'plugin ' + repr(owner) if owner != 'the core' else owner}"
                                      f"; plugin {record.name!r} cannot register it too")
        for key in wanted:
            self._owners[key] = record.name

    def release(self, plugin: str) -> None:
        """Give up every id ``plugin`` held."""
        self._owners = {k: v for k, v in self._owners.items() if v != plugin}


async def apply(record: PluginRecord, wiring: PluginWiring) -> None:
    """Add a plugin's contributions to the runtime's registries."""
    c = record.contributions
    for source in c.sources:
        wiring.sources.register(source)
        if wiring.ready:  # booting: the event_sources step starts every source
            await asyncio.wait_for(source.start(), timeout=_SOURCE_TIMEOUT_SEC)
    for event_type, description in c.event_types:
        wiring.event_types.register(event_type, f"plugin:{record.name}", description)
    for adapter in c.channel_adapters:
        wiring.channels.add_platform(adapter)
    if c.tools:
        # A name clash (with a built-in or another plugin) fails this plugin only.
        wiring.tools.register_plugin_tools(record.name, c.tools)
    if c.skill_dirs:
        wiring.skills.add_dirs(c.skill_dirs, owner=record.name)


async def withdraw(record: PluginRecord, wiring: PluginWiring) -> None:
    """Remove whatever the plugin added, its bus subscriptions included; never raises."""
    c = record.contributions
    for source in c.sources:
        try:
            await asyncio.wait_for(source.stop(), timeout=_SOURCE_TIMEOUT_SEC)
        except Exception:  # noqa: BLE001
            log.exception("stopping source %s of plugin %s failed", source.id, record.name)
        if any(s is source for s in wiring.sources.list()):
            wiring.sources.unregister(source.id)
    wiring.event_types.unregister_owner(f"plugin:{record.name}")
    for adapter in c.channel_adapters:
        wiring.channels.remove_platform(adapter.platform)
    wiring.tools.unregister_source(f"plugin:{record.name}")
    if c.skill_dirs:
        try:
            wiring.skills.remove_dirs(record.name)
        except Exception:  # noqa: BLE001
            log.exception("removing skill folders of plugin %s failed", record.name)
    if record.context is not None:
        record.context.bus.close()
        record.context = None
    record.contributions = Contributions()


def check_routes(values: list[Any]) -> list[PluginRoute]:
    """``register_routes`` results: PluginRoute values, no (method, path) twice."""
    seen: set[tuple[str, str]] = set()
    for value in values:
        if not isinstance(value, PluginRoute):
            raise PluginLoadError(f"register_routes returned {type(value).__name__}, "
                                  "not aman.plugins.api.PluginRoute")
        key = (value.method, value.path)
        if key in seen:
            raise PluginLoadError(f"register_routes returned {value.method} {value.path} twice")
        seen.add(key)
    return values


def check_event_types(values: list[Any]) -> list[tuple[str, str]]:
    """``register_event_types`` results as (type, description) pairs."""
    pairs = []
    for value in values:
        if isinstance(value, str):
            value = (value, "")
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not all(isinstance(v, str) for v in value) or not value[0]):
            raise PluginLoadError(f"register_event_types returned {value!r}, "
                                  "not a (type, description) pair")
        pairs.append((value[0], value[1]))
    return pairs


def check_pages(manifest: Manifest | None, values: list[Any]) -> list[UiPage]:
    """The manifest's ``ui.pages`` then the hook's; a page id the hook repeats replaces it."""
    pages: dict[str, UiPage] = {}
    for entry in manifest.ui.pages if manifest else []:
        pages[entry.id] = UiPage(entry.id, entry.label or entry.id, entry.path)
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            value = UiPage(value["id"], str(value.get("label") or value["id"]), value.get("path"))
        if not isinstance(value, UiPage):
            raise PluginLoadError(f"register_ui_pages returned {value!r}, not a UiPage "
                                  "or {id, label, path?}")
        pages[value.id] = value
    return list(pages.values())


def check_sources(values: list[Any]) -> list[Any]:
    """``register_event_sources`` results: objects with an id and start/stop."""
    for value in values:
        if not all(hasattr(value, a) for a in ("id", "start", "stop", "state", "health")):
            raise PluginLoadError(f"register_event_sources returned {type(value).__name__}, "
                                  "which does not keep the EventSource protocol")
    return values


def check_channel_adapters(values: list[Any]) -> list[type[ChannelAdapter]]:
    """``register_channel_adapters`` results: classes with a ``platform`` name."""
    for value in values:
        if not isinstance(value, type) or not isinstance(getattr(value, "platform", None), str):
            raise PluginLoadError(f"register_channel_adapters returned {value!r}, which is not "
                                  "a ChannelAdapter class with a platform name")
    return values
