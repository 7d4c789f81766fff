"""Wiring of the MCP manager into the runtime, kept beside the composition root it belongs to.

The manager gets its collaborators here (settings, tool registry, bus, clock, task tracker) and
the capability service is told to show each server's health, so the Runtime module stays about
its state machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aman.mcp.manager import McpManager

if TYPE_CHECKING:
    from aman.core.runtime import Runtime


def build_mcp(runtime: Runtime) -> McpManager:
    """The MCP manager of ``runtime``, its servers' health shown by its capability service."""
    manager = McpManager(settings=lambda: runtime.settings.mcp, tools=runtime.tools,
                         bus=runtime.bus, clock=runtime.clock, tasks=runtime.tasks,
                         on_change=runtime.capabilities.refresh)
    runtime.capabilities.show_mcp(manager.states)
    return manager
