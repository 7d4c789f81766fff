"""An HTTP MCP server built with the SDK, run as its own process by the MCP tests.

``python -m tests.mcp.servers.http_server PORT [sse]`` serves streamable HTTP at ``/mcp`` (or the
older SSE transport at ``/sse``) on 127.0.0.1:PORT with tools:
``whoami`` (the request headers it received), ``slow`` (sleeps), ``grow`` (adds a tool and
announces that the tool list changed) and ``wipe`` (annotated destructive); one resource
``notes://today`` and one prompt ``greet``.
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("test-http", version="1.0")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def whoami(ctx: Context) -> str:
    """The headers this request arrived with."""
    return json.dumps({k.lower(): v for k, v in (ctx.headers or {}).items()})


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after ``seconds``."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called ``name`` and tell the client the tool list changed."""

    def added() -> str:
        return f"I am {name}"

    server.add_tool(added, name=name, description=f"added at run time as {name}")
    await ctx.request_context.session.send_tool_list_changed()
    return f"added {name}"


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
async def wipe() -> str:
    """Pretend to delete everything."""
    return "wiped"


@server.resource("notes://today", name="today", mime_type="text/plain")
def today() -> str:
    """Today's notes."""
    return "water the plants"


@server.prompt()
def greet(who: str) -> str:
    """A greeting for ``who``."""
    return f"Say hello to {who}."


if __name__ == "__main__":
    port = int(sys.argv[1])
    app = server.sse_app() if sys.argv[2:] == ["sse"] else server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
