"""What plugin authors import: ``hookimpl``, the ``PluginContext`` hooks get, what hooks return.

Kept free of Quart and pluggy-internals so a plugin depends only on this module and
``aman.plugins.hookspecs``. Route handlers receive a ``PluginRequest`` and return a
``PluginResponse`` or any JSON-serialisable value (served as 200 JSON).
"""

from __future__ import annotations

from aman.plugins.context import PluginContext
from aman.plugins.hookspecs import hookimpl
from aman.plugins.model import PluginRequest, PluginResponse, PluginRoute, UiPage

__all__ = ["PluginContext", "PluginRequest", "PluginResponse", "PluginRoute", "UiPage",
           "hookimpl"]
