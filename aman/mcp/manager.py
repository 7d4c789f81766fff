"""McpManager: every configured MCP server, its connection, its tools in the registry, its facts.

Servers connect in the background once the daemon is ready, each on its own task, so a missing
binary or a hanging server never delays readiness. A server's tools are in the tool registry
(source ``mcp:<server>``) only while it is ``ready``: a failed server's tools are withdrawn, so
the model is never offered a tool that cannot run. State changes are published as ``mcp:*``
facts; ``reconfigure`` applies a new ``mcp`` section live (servers added, removed, restarted).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aman.errors import NotFoundError
from aman.mcp.model import (
    SERVER_CONNECT_STARTED,
    SERVER_CONNECTED,
    SERVER_DISABLED,
    SERVER_FAILED,
    SERVER_REMOVED,
    SOURCE,
    TOOLS_CHANGED,
    McpTool,
    ServerState,
    source_of,
)
from aman.mcp.resolve import ServerSpec, gather
from aman.mcp.settings import McpSettings

if TYPE_CHECKING:
    from aman.clock import Clock
    from aman.core.lifecycle import TaskTracker
    from aman.events.ports import FactEmitter
    from aman.mcp.connection import ServerConnection
    from aman.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

_STATE_EVENTS = {ServerState.CONNECTING: SERVER_CONNECT_STARTED,
                 ServerState.READY: SERVER_CONNECTED, ServerState.FAILED: SERVER_FAILED,
                 ServerState.DISABLED: SERVER_DISABLED}
#: Longest one server's stop may take (stdio: close stdin, wait, then kill its group).
_STOP_TIMEOUT_SEC = 10.0


class McpServerNotFoundError(NotFoundError):
    """No configured MCP server has this name."""

    code = "mcp_server_not_found"
    hint = "GET /mcp/servers lists the configured MCP servers."


class McpManager:
    """Connections by server name, kept in step with the ``mcp`` settings."""

    def __init__(self, *, settings: Callable[[], McpSettings], tools: ToolRegistry,
                 bus: FactEmitter, clock: Clock, tasks: TaskTracker,
                 environ: Callable[[], dict[str, str]] = lambda: dict(os.environ),
                 on_change: Callable[[], None] = lambda: None) -> None:
        self._settings = settings
        self._tools = tools
        self._bus = bus
        self._clock = clock
        self._tasks = tasks
        self._environ = environ
        #: Called after any state change (capabilities recompute).
        self.on_change = on_change
        self._connections: dict[str, ServerConnection] = {}
        #: Servers read at boot and not connecting yet (the SDK loads after readiness).
        self._pending: dict[str, ServerSpec] = {}
        self._lock = asyncio.Lock()
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the configured servers now (they show as connecting until ``start``)."""
        self._pending = gather(self._settings())

    async def start(self) -> None:
        """Start connecting every configured server in the background; returns at once."""
        async with self._lock:
            self._running = True
            specs = self._pending or gather(self._settings())
            if specs:
                await _load_sdk()
            for spec in specs.values():
                self._add(spec)
            self._pending = {}

    async def stop(self) -> None:
        """Stop every server (no server process is left) and withdraw their tools."""
        async with self._lock:
            self._running = False
            self._pending = {}
            connections, self._connections = list(self._connections.values()), {}
            await asyncio.gather(*(self._stop_one(c) for c in connections))

    def reconfigure(self, settings: McpSettings) -> None:
        """Apply a new ``mcp`` section live: added servers start, removed ones stop, changed
        ones restart; untouched ones keep their session. Runs in the background."""
        if not self._running:
            return
        self._tasks.spawn("mcp:reconfigure", self._apply(settings))

    async def _apply(self, settings: McpSettings) -> None:
        async with self._lock:
            if not self._running:
                return
            wanted = gather(settings)
            if wanted:
                await _load_sdk()
            for name in [n for n in self._connections if n not in wanted]:
                await self._stop_one(self._connections.pop(name))
                self._bus.emit(SERVER_REMOVED, {"server": name}, source=SOURCE)
            for name, spec in wanted.items():
                current = self._connections.get(name)
                if current is not None and current.spec == spec:
                    continue
                if current is not None:  # listed as connecting while the old one stops
                    self._pending[name] = spec
                    await self._stop_one(self._connections.pop(name))
                self._add(spec)
                self._pending.pop(name, None)
            self.on_change()

    def _add(self, spec: ServerSpec) -> None:
        from aman.mcp.connection import ServerConnection

        connection = ServerConnection(spec, clock=self._clock, on_state=self._state_changed,
                                      on_listing=self._listing_changed, environ=self._environ)
        self._connections[spec.name] = connection
        connection.start(self._tasks.spawn)
        if connection.state is not ServerState.DISABLED:
            self._state_changed(connection, connection.state)

    async def _stop_one(self, connection: ServerConnection) -> None:
        try:
            await asyncio.wait_for(connection.stop(), _STOP_TIMEOUT_SEC)
        except TimeoutError:
            log.error("MCP server %s did not stop within %.0fs", connection.name,
                      _STOP_TIMEOUT_SEC)
        self._withdraw(connection.name)

    # --- reading ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Configured server names, sorted."""
        return sorted({*self._connections, *self._pending})

    def get(self, name: str) -> ServerConnection:
        """The connection of ``name``; 404 ``mcp_server_not_found``."""
        connection = self._connections.get(name)
        if connection is None:
            known = ", ".join(self.names()) or "none configured"
            if name in self._pending:
                raise McpServerNotFoundError(f"MCP server {name!r} is not started yet",
                                             hint="It starts once the daemon is ready; retry.")
            raise McpServerNotFoundError(f"no MCP server named {name!r} (configured: {known})")
        return connection

    def describe(self, name: str) -> dict[str, Any]:
        """One server's state as ``GET /mcp/servers`` shows it."""
        pending = self._pending.get(name)
        if pending is not None and name not in self._connections:
            return {"name": name, "state": _pending_state(pending), "origin": pending.origin,
                    "transport": pending.settings.kind if pending.settings else "unknown",
                    "tools": 0, "last_error": pending.problem, "since": None, "attempts": 0,
                    "next_retry_at": None, "server_info": None}
        c = self.get(name)
        return {"name": c.name, "state": c.state.value, "transport": c.transport,
                "origin": c.spec.origin, "tools": len(self._registered(name)),
                "last_error": c.last_error, "since": c.since_ms, "attempts": c.attempts,
                "next_retry_at": c.next_retry_ms if c.state is ServerState.FAILED else None,
                "server_info": c.server_info}

    def listing(self) -> list[dict[str, Any]]:
        """Every server, by name."""
        return [self.describe(name) for name in self.names()]

    def tools_of(self, name: str) -> list[dict[str, Any]]:
        """The tools a server contributes now (empty unless it is ready)."""
        if name not in self._pending:
            self.get(name)
        return [{**tool.describe(self._tools.sensitivity(tool.name)),
                 "mcp_name": tool.remote_name} for tool in self._registered(name)]

    def states(self) -> dict[str, str]:
        """Server name → state (the capability service maps these to health)."""
        states = {name: _pending_state(spec) for name, spec in self._pending.items()}
        states.update({name: c.state.value for name, c in self._connections.items()})
        return dict(sorted(states.items()))

    async def reconnect(self, name: str) -> dict[str, Any]:
        """Connect ``name`` again now (a disabled server stays disabled)."""
        self.get(name).reconnect()
        return self.describe(name)

    def _registered(self, name: str) -> list[McpTool]:
        source = source_of(name)
        found = []
        for tool_name in self._tools.names():
            if not tool_name.startswith("mcp__"):
                continue
            tool = self._tools.get(tool_name)
            if tool.source == source and isinstance(tool, McpTool):
                found.append(tool)
        return found

    # --- callbacks from connections --------------------------------------------------------

    def _state_changed(self, connection: ServerConnection, previous: ServerState) -> None:
        payload = {"server": connection.name, "state": connection.state.value,
                   "previous": previous.value, "error": connection.last_error,
                   "transport": connection.transport, "since": connection.since_ms}
        self._bus.emit(_STATE_EVENTS[connection.state], payload, source=SOURCE)
        if connection.state is ServerState.READY:
            log.info("MCP server %s ready (%s)", connection.name, connection.server_info)
        self.on_change()

    def _listing_changed(self, connection: ServerConnection) -> None:
        """Bring the registry in line with what the server offers now."""
        if self._connections.get(connection.name) is not connection:
            return
        before = {t.name for t in self._registered(connection.name)}
        self._tools.unregister_source(source_of(connection.name))
        added: list[str] = []
        if connection.state is ServerState.READY:
            from aman.mcp.tools import build_tools

            for tool in build_tools(connection):
                try:
                    self._tools.register(tool)
                except Exception as exc:  # noqa: BLE001 - one clashing name skips that tool
                    log.error("MCP server %s: tool %s not registered: %s", connection.name,
                              tool.name, getattr(exc, "message", exc))
                    continue
                added.append(tool.name)
        if set(added) != before:
            self._bus.emit(TOOLS_CHANGED, {"server": connection.name, "tools": sorted(added),
                                           "count": len(added)}, source=SOURCE)

    def _withdraw(self, name: str) -> None:
        gone = self._tools.unregister_source(source_of(name))
        if gone:
            self._bus.emit(TOOLS_CHANGED, {"server": name, "tools": [], "count": 0},
                           source=SOURCE)


async def _load_sdk() -> None:
    """Import the SDK in a thread: it takes seconds, and the daemon is serving meanwhile."""
    await asyncio.to_thread(importlib.import_module, "aman.mcp.tools")


def _pending_state(spec: ServerSpec) -> str:
    return ServerState.CONNECTING.value if spec.enabled else ServerState.DISABLED.value
