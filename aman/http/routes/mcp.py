"""MCP servers: their state, their tools, and a reconnect on demand."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ErrorBody, ResponseModel
from aman.http.validation import responds

bp = Blueprint("mcp", __name__)


class McpServerView(ResponseModel):
    """One configured MCP server."""

    name: str
    state: str = Field(description="connecting, ready, failed or disabled.")
    transport: str = Field(description="stdio, http or sse (unknown: the entry is unusable).")
    origin: str = Field(description="mcp.servers, or the imported file it comes from.")
    tools: int = Field(description="Tools it contributes now (0 unless ready).")
    last_error: str | None = Field(description="Why it failed last; null once connected.")
    since: int | None = Field(description="When it entered this state (epoch ms).")
    attempts: int = Field(description="Connection attempts so far.")
    next_retry_at: int | None = Field(description="When a failed server is tried again (ms).")
    server_info: str | None = Field(description="The server's own name and version.")


class McpServerList(ResponseModel):
    """Body of GET /mcp/servers."""

    items: list[McpServerView]


class McpToolView(ResponseModel):
    """One tool a server contributes."""

    name: str = Field(description="mcp__<server>__<tool>, as the model and /tools see it.")
    mcp_name: str = Field(description="The tool's name on the server.")
    description: str
    schema_: dict[str, Any] = Field(alias="schema")
    sensitivity: str
    source: str


class McpToolList(ResponseModel):
    """Body of GET /mcp/servers/{name}/tools."""

    items: list[McpToolView]


@bp.get("/mcp/servers")
@policy()
@responds(McpServerList)
async def list_servers() -> Response:
    """Every configured server: state, transport, tools count, last error and since when."""
    return jsonify({"items": runtime().mcp.listing()})


@bp.get("/mcp/servers/<name>/tools")
@policy()
@responds(McpToolList)
@responds(ErrorBody, 404)
async def server_tools(name: str) -> Response:
    """The tools ``name`` contributes now; 404 ``mcp_server_not_found``."""
    return jsonify({"items": runtime().mcp.tools_of(name)})


@bp.post("/mcp/servers/<name>/reconnect")
@policy(action="mcp.reconnect", target="mcp:{name}")
@responds(McpServerView)
@responds(ErrorBody, 404)
async def reconnect(name: str) -> Response:
    """Drop the server's session if any and connect again now; 404 ``mcp_server_not_found``."""
    return jsonify(await runtime().mcp.reconnect(name))
