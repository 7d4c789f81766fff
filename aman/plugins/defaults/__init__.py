"""Core features registered through the plugin API (Datasette's DEFAULT_PLUGINS, STYLE habit 8).

Each entry is a module of hook implementations loaded first on every boot, so the plugin API is
exercised on every boot. Unlike other plugins, a default plugin that fails fails boot, and it
cannot be disabled or uninstalled.
"""

from __future__ import annotations

import importlib

#: (plugin name, module) in load order.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("core-sources", "aman.plugins.defaults.sources"),
    ("core-channels", "aman.plugins.defaults.channels"),
)


def default_plugins() -> list[tuple[str, object]]:
    """The default plugin modules, imported."""
    return [(name, importlib.import_module(module)) for name, module in DEFAULT_PLUGINS]
