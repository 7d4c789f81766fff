"""Plugins: the host, discovery, manifests, install, hookspecs and what plugin authors import.

Plugin authors import from here (``from aman.plugins import hookimpl, PluginRoute``); the names
come from ``aman.plugins.api``, which imports neither Quart nor the host. Hooks receive a
``PluginContext``, the plugin's whole view of the daemon.
"""

from aman.plugins.api import (
    PluginContext,
    PluginRequest,
    PluginResponse,
    PluginRoute,
    UiPage,
    hookimpl,
)

__all__ = ["PluginContext", "PluginRequest", "PluginResponse", "PluginRoute", "UiPage",
           "hookimpl"]
