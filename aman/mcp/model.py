"""Values of the MCP package that load no MCP code: server states, call errors, the tool type."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from aman.tools.model import Tool


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
