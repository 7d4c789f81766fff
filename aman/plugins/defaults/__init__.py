"""Core features registered through the plugin API, so that API is exercised on every boot.

Each entry is an object holding hook implementations (a module, or an instance when the plugin
needs a core setting), loaded before every other plugin. Unlike other plugins, a default plugin
that fails fails boot, and it cannot be disabled or uninstalled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aman.plugins.defaults import channels
from aman.plugins.defaults.sources import CoreSources

if TYPE_CHECKING:
    from aman.config.settings import SourcesSettings

#: The default plugins' names, in load order.
DEFAULT_PLUGINS: tuple[str, ...] = ("core-sources", "core-channels")


def default_plugins(sources: Callable[[], SourcesSettings]) -> list[tuple[str, object]]:
    """The default plugins in load order; ``sources`` gives the core's ``sources`` settings."""
    return [("core-sources", CoreSources(sources)), ("core-channels", channels)]
