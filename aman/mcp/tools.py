"""aman tools for one connected MCP server: its tools, and ``read_resource``/``get_prompt``.

Each tool's handler calls through the server's connection; a server error comes back as a failed
call with the server's message, a call without an answer in time as ``timeout``, and the result
is text capped at ``tools.max_output_bytes`` like any tool output.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp_types
from mcp import MCPError
from pydantic import BaseModel, ConfigDict

from aman.mcp import adapt
from aman.mcp.connection import ServerConnection
from aman.mcp.model import CallTimedOut, McpArguments, McpTool, NotConnectedError, source_of
from aman.tools.model import (
    ToolContext,
    ToolFailedError,
    ToolOutput,
    ToolTimedOutError,
    cap,
)

log = logging.getLogger(__name__)

#: Most resources and prompts named in a helper tool's description (the model reads it each turn).
_LISTED = 20


def build_tools(connection: ServerConnection) -> list[McpTool]:
    """The aman tools of a connected server, after include/exclude."""
    resolved = connection.resolved
    if resolved is None:
        return []
    server, trust = connection.name, resolved.trust
    built: list[McpTool] = []
    for remote in connection.listing.tools:
        if not adapt.wanted(remote.name, resolved.tools, server):
            continue
        annotations = (remote.annotations.model_dump(by_alias=True, exclude_none=True)
                       if remote.annotations is not None else None)
        built.append(McpTool(
            name=adapt.tool_name(server, remote.name),
            description=adapt.description(remote.description,
                                          f"{remote.name} (MCP server {server})"),
            params=McpArguments, sensitivity=adapt.sensitivity(annotations, trust),
            handler=_tool_handler(connection, remote.name), source=source_of(server),
            input_schema=adapt.model_schema(remote.input_schema), server=server,
            remote_name=remote.name))
    listing = connection.listing
    helpers = ((adapt.READ_RESOURCE, listing.has_resources), (adapt.GET_PROMPT,
                                                               listing.has_prompts))
    for helper, offered in helpers:
        if offered and adapt.wanted(helper, resolved.tools, server):
            built.append(_helper(connection, helper))
    return built


def _tool_handler(connection: ServerConnection, remote: str) -> Any:
    async def handler(params: BaseModel, ctx: ToolContext) -> ToolOutput:
        arguments = params.model_dump()
        try:
            result = await connection.call_tool(remote, arguments)
        except (CallTimedOut, NotConnectedError, MCPError) as exc:
            raise _failure(exc) from None
        blocks = [block.model_dump(by_alias=True, mode="json") for block in result.content]
        text = adapt.result_text(blocks, result.structured_content)
        if result.is_error:
            raise ToolFailedError(f"the MCP tool reported an error: {text or 'no detail'}")
        shown, truncated = cap(text, ctx.max_output_bytes)
        return ToolOutput(shown, truncated)

    return handler


def _failure(exc: Exception) -> ToolFailedError:
    if isinstance(exc, CallTimedOut):
        return ToolTimedOutError(str(exc))
    if isinstance(exc, MCPError):
        return ToolFailedError(f"the MCP server refused the call: {exc.error.message}")
    return ToolFailedError(str(exc))


class ResourceArguments(BaseModel):
    """Arguments of ``read_resource``."""

    model_config = ConfigDict(extra="forbid")
    uri: str


class PromptArguments(BaseModel):
    """Arguments of ``get_prompt``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: dict[str, str] = {}


def _helper(connection: ServerConnection, helper: str) -> McpTool:
    server = connection.name
    assert connection.resolved is not None
    listing = connection.listing
    if helper == adapt.READ_RESOURCE:
        known = [f"{r.uri} ({r.name})" for r in listing.resources[:_LISTED]]
        text = f"Read a resource of MCP server {server} by its URI."
        params: type[BaseModel] = ResourceArguments
        handler = _resource_handler(connection)
    else:
        known = [p.name + (f": {p.description}" if p.description else "")
                 for p in listing.prompts[:_LISTED]]
        text = f"Get a prompt of MCP server {server} by name, with its arguments."
        params = PromptArguments
        handler = _prompt_handler(connection)
    if known:
        text += " Known: " + "; ".join(known)
    return McpTool(name=adapt.tool_name(server, helper), description=adapt.description(text, text),
                   params=params, sensitivity=adapt.helper_sensitivity(connection.resolved.trust),
                   handler=handler, source=source_of(server),
                   input_schema=adapt.model_schema(params.model_json_schema()), server=server,
                   remote_name=helper)


def _resource_handler(connection: ServerConnection) -> Any:
    async def handler(params: ResourceArguments, ctx: ToolContext) -> ToolOutput:
        try:
            result = await connection.read_resource(params.uri)
        except (CallTimedOut, NotConnectedError, MCPError) as exc:
            raise _failure(exc) from None
        text = "\n".join(adapt.resource_text(c.model_dump(by_alias=True, mode="json"))
                         for c in result.contents)
        shown, truncated = cap(text, ctx.max_output_bytes)
        return ToolOutput(shown, truncated)

    return handler


def _prompt_handler(connection: ServerConnection) -> Any:
    async def handler(params: PromptArguments, ctx: ToolContext) -> ToolOutput:
        try:
            result: mcp_types.GetPromptResult = await connection.get_prompt(params.name,
                                                                            params.arguments)
        except (CallTimedOut, NotConnectedError, MCPError) as exc:
            raise _failure(exc) from None
        lines = [f"{m.role}: {adapt.block_text(m.content.model_dump(by_alias=True, mode='json'))}"
                 for m in result.messages]
        text = json.dumps({"description": result.description}) + "\n" if result.description \
            else ""
        shown, truncated = cap(text + "\n".join(lines), ctx.max_output_bytes)
        return ToolOutput(shown, truncated)

    return handler
