"""Every hook a plugin may implement, grouped by area. Specs only; nothing runs at import.

Hooks compose things at load time; runtime traffic goes through the event bus, never through
pluggy calls. Call hooks with keyword arguments; results may be awaitables (see
``aman.plugins.resolve``). Later issues add the registration hooks (routes, event sources, event
types, tools, UI pages, LLM provider).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from aman.runtime import Runtime

PROJECT = "aman"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec
def startup(runtime: Runtime) -> Awaitable[None] | None:
    """Start the plugin's own work.

    Called once per boot in phase 3, after every plugin is registered. Subscribe to the bus
    here. May return an awaitable, which is awaited. A plugin that raises is marked failed.
    """


@hookspec
def shutdown(runtime: Runtime) -> Awaitable[None] | None:
    """Stop the plugin's own work.

    Called when the runtime unwinds phase 3, in reverse registration order. May return an
    awaitable, which is awaited within the drain timeout.
    """
