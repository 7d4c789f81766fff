"""The plugin-author API under its first name, kept so plugins written against it still load.

New plugins import from ``aman.plugins``; both names give the same objects.
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
