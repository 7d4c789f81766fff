"""PluginHost: the per-Runtime pluggy manager and the one helper that awaits hook results.

Discovery (plugins/ folder, installed plugins, entry points) arrives with issue #4; today the host
registers the hookspecs, validates implementations with ``check_pending`` and runs the lifecycle
hooks, so the boot path is the one plugins will use.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import TYPE_CHECKING, Any

import pluggy

from aman import hookspecs
from aman.errors import StartupError

if TYPE_CHECKING:
    from aman.runtime import Runtime

log = logging.getLogger(__name__)

#: Set to 1 to log every hook call with its arguments and results (Datasette's trace switch).
TRACE_ENV = "AMAN_TRACE_PLUGIN_HOOKS"


async def resolve(result: Any) -> Any:
    """Await ``result`` if it is awaitable (pluggy itself is synchronous)."""
    if inspect.isawaitable(result):
        return await result
    return result


class PluginHost:
    """Owns the PluginManager of one Runtime."""

    def __init__(self) -> None:
        self.manager = self._new_manager()
        self._undo_trace: Any = None

    @staticmethod
    def _new_manager() -> pluggy.PluginManager:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        return manager

    @property
    def names(self) -> list[str]:
        """Names of registered plugins."""
        return [name for name, _ in self.manager.list_name_plugin() if name]

    def register(self, plugin: object, name: str) -> None:
        """Register one plugin object under ``name``; reject a duplicate name."""
        if self.manager.has_plugin(name):
            raise StartupError(f"two plugins are both named {name!r}")
        self.manager.register(plugin, name=name)

    async def start(self, runtime: Runtime) -> None:
        """Validate every implementation and run the ``startup`` hooks."""
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise StartupError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
        if os.environ.get(TRACE_ENV) == "1":
            self.manager.trace.root.setwriter(lambda text: log.info("hook: %s", text.rstrip()))
            self._undo_trace = self.manager.enable_tracing()
        for result in self.manager.hook.startup(runtime=runtime):
            await resolve(result)

    async def stop(self, runtime: Runtime) -> None:
        """Run the ``shutdown`` hooks (pluggy calls them in reverse registration order)."""
        try:
            for result in self.manager.hook.shutdown(runtime=runtime):
                await resolve(result)
        finally:
            if self._undo_trace is not None:
                self._undo_trace()
                self._undo_trace = None
