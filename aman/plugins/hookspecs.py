"""Every hook a plugin may implement, grouped by area. Specs only; nothing runs at import.

Hooks compose things at load time; runtime traffic goes through the event bus, never through
pluggy calls. aman calls every hook with keyword arguments, and any hook may return an awaitable,
which is awaited (``aman.plugins.host.resolve``). List results are flattened. A plugin whose hook
raises is marked failed and the others carry on. Every hook but ``llm_provider`` receives the
plugin's own ``context`` (``aman.plugins.context.PluginContext``): what a plugin may reach of the
daemon, and nothing more. Plugin authors import ``hookimpl`` from here, from
``aman.plugins.api`` or as ``aman.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from aman.config.settings import Settings
    from aman.events.sources import EventSource
    from aman.plugins.context import PluginContext
    from aman.plugins.model import PluginRoute, UiPage

PROJECT = "aman"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# Registration: called when a plugin is loaded (boot phase 3, step plugin_host) and again each
# time it is enabled at runtime. What a plugin returns is removed again when it is disabled.
# ---------------------------------------------------------------------------------------------


@hookspec
def register_routes(
    context: PluginContext,
) -> Iterable[PluginRoute] | Awaitable[Iterable[PluginRoute]]:
    """Contribute HTTP routes, served under ``/api/v1/<plugin>/...``.

    Called in phase 3 when the plugin loads, and on ``POST /plugin/{name}/enable``. Return a list
    of ``aman.plugins.api.PluginRoute``; each needs the API token unless marked ``public``. Two
    routes of one plugin with the same method and path fail the plugin. May return an awaitable.
    """


@hookspec
def register_event_sources(
    context: PluginContext,
) -> Iterable[EventSource] | Awaitable[Iterable[EventSource]]:
    """Contribute event sources (objects keeping ``aman.events.sources.EventSource``).

    Called in phase 3, before the ``event_sources`` step of phase 4 starts every source; on a
    runtime enable the sources are started at once. Return a list of sources; a source id already
    taken (by the core or another plugin) fails this plugin, naming both. Emit through
    ``context.bus.publish``. May return an awaitable.
    """


@hookspec
def register_event_types(
    context: PluginContext,
) -> Iterable[tuple[str, str]] | Awaitable[Iterable[tuple[str, str]]]:
    """Declare the event types the plugin emits, as ``(type, description)`` pairs.

    Called in phase 3 when the plugin loads. The types appear on ``GET /events/types`` with the
    plugin as owner; a type another plugin or a core feature declared fails this one. May return
    an awaitable.
    """


@hookspec
def register_tools(context: PluginContext) -> Iterable[Any] | Awaitable[Iterable[Any]]:
    """Contribute tools the agent may call.

    Called in phase 3 when the plugin loads. Return ``aman.tools.model.Tool`` values; they are
    registered with source ``plugin:<name>`` and listed on ``GET /tools``. A name already taken
    (by a built-in or another plugin) fails this plugin with the clash in its status. May return
    an awaitable.
    """


@hookspec
def register_ui_pages(
    context: PluginContext,
) -> Iterable[UiPage | dict[str, str]] | Awaitable[Iterable[UiPage | dict[str, str]]]:
    """Contribute pages the desktop UI may show.

    Called in phase 3 when the plugin loads. Return ``aman.plugins.api.UiPage`` values or dicts
    ``{id, label, path?}``; they join the manifest's ``ui.pages`` on ``GET /ui/pages``. A page id
    used by another plugin fails this one. May return an awaitable.
    """


@hookspec
def register_skill_folders(
    context: PluginContext,
) -> Iterable[str | Path] | Awaitable[Iterable[str | Path]]:
    """Contribute folders of skills, loaded and watched like ``skills.dirs``.

    Called in phase 3 when the plugin loads. Return a list of paths (relative ones are taken from
    the plugin's folder). May return an awaitable.
    """


@hookspec
def register_channel_adapters(context: PluginContext) -> Iterable[type] | Awaitable[Iterable[type]]:
    """Contribute IM channel adapter classes (subclasses of ``aman.channels.base.ChannelAdapter``).

    Called in phase 3 when the plugin loads. Return adapter classes, each with a distinct
    ``platform``; ``channels.<platform>.<instance>`` entries are then served at
    ``POST /im/<platform>/<instance>/webhook``. The built-in Telegram, Slack and generic adapters
    come from the default plugin ``core-channels``. May return an awaitable.
    """


# ---------------------------------------------------------------------------------------------
# Capabilities: asked again whenever the capability map is recomputed, because statuses change.
# ---------------------------------------------------------------------------------------------


@hookspec
def register_capabilities(context: PluginContext) -> Iterable[Any] | Awaitable[Iterable[Any]]:
    """Report the capabilities the plugin provides, with their current health.

    Called for each enabled plugin when the capability map is recomputed: at the end of boot
    phase 4 (step ``capabilities``), after facts that may change a status, on
    ``GET /capabilities`` and whenever the daemon refreshes the map; keep it cheap. Return
    ``{capability, status?, version?}`` dicts (``status`` ``healthy``, ``degraded`` or ``error``,
    default healthy; ``version`` defaults to the plugin's), ``aman.capabilities.Capability``
    values or bare names; the entry's ``plugin`` is always this plugin. A plugin whose hook raises
    (or returns something invalid) is logged, its last good entries are shown as ``error`` and the
    others are unaffected. May return an awaitable (given up on after 5 s).
    """


# ---------------------------------------------------------------------------------------------
# LLM
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def llm_provider(settings: Settings) -> Any | Awaitable[Any] | None:
    """Provide the LLM provider to use instead of the configured one.

    ``firstresult``: the first plugin returning something other than ``None`` wins. Called when
    the LLM layer is set up (phase 4). May return an awaitable.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec
def startup(context: PluginContext) -> Awaitable[None] | None:
    """Start the plugin's own work.

    Called once per boot in phase 3, after every plugin is registered, and when a plugin is
    enabled at runtime. Subscribe to the bus here (``context.bus.subscribe``; what is still
    subscribed when the plugin is disabled is unsubscribed then). May return an awaitable,
    which is awaited. A plugin that raises is marked failed and its contributions are removed.
    """


@hookspec
def shutdown(context: PluginContext) -> Awaitable[None] | None:
    """Stop the plugin's own work.

    Called when the runtime unwinds phase 3, in reverse load order, and when the plugin is
    disabled or uninstalled. May return an awaitable, which is awaited within the drain timeout.
    """
