"""Values of the MCP package that load no MCP code: its facts, server states, call errors, the
tool type."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from aman.events.types import EventTable
from aman.tools.model import Tool

SOURCE = "mcp"
SERVER_CONNECT_STARTED = "mcp:server_connect_started"
SERVER_CONNECTED = "mcp:server_connected"
SERVER_FAILED = "mcp:server_failed"
SERVER_DISABLED = "mcp:server_disabled"
SERVER_REMOVED = "mcp:server_removed"
TOOLS_CHANGED = "mcp:tools_changed"
#: Every fact the MCP package publishes (source ``mcp``), declared by the composition root.
EVENT_TYPES: EventTable = (
    (SERVER_CONNECT_STARTED, "An MCP server is being connected (first time, retry or reconnect)."),
    (SERVER_CONNECTED, "An MCP server is connected; its tools are offered."),
    (SERVER_FAILED, "An MCP server failed or dropped (payload error); it will be retried."),
    (SERVER_DISABLED, "An MCP server is configured with enabled: false."),
    (SERVER_REMOVED, "An MCP server left the configuration; its process and tools are gone."),
    (TOOLS_CHANGED, "The tools of an MCP server changed (connected, listed again, withdrawn)."),
)


class ServerState(enum.Enum):
    """Where a server is."""

    CONNECTING = "connecting"
    READY = "ready"
    FAILED = "failed"
    DISABLED = "disabled"


class CallTimedOut(Exception):
    """A call got no answer within the server's ``timeout_sec``."""


class NotConnectedError(Exception):
    """The server has no live session now."""


class McpArguments(BaseModel):
    """Arguments of an MCP tool: passed through as given; the server validates them."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class McpTool(Tool):
    """A tool served by an MCP server; its schema is the server's (made acceptable)."""

    input_schema: dict[str, Any] = field(default_factory=dict)
    server: str = ""
    remote_name: str = ""

    def schema(self) -> dict[str, Any]:
        """The server's input schema, as the model is offered it."""
        return self.input_schema


def source_of(server: str) -> str:
    """The registry source of a server's tools."""
    return f"mcp:{server}"
