"""``aman mcp serve``: the running daemon as a stdio MCP server for MCP clients.

It talks to the daemon the shared options find (``--url`` / ``AMAN_URL``, else the config's
``http.bind``; the token likewise). Nothing but MCP messages is written to stdout.
"""

from __future__ import annotations

import asyncio

import click

from aman.cli.connect import common_options, options


def register(cli: click.Group) -> None:
    """Add the ``mcp`` group."""
    cli.add_command(mcp)


@click.group()
def mcp() -> None:
    """MCP: use the daemon from MCP clients."""


@mcp.command()
@common_options
def serve() -> None:
    """Serve the daemon's tools over stdio MCP until the client leaves."""
    from aman.mcp.serve import serve_stdio  # the SDK loads only for this command

    opts = options()
    try:
        asyncio.run(serve_stdio(opts.base_url(), opts.api_token()))
    except KeyboardInterrupt:
        pass
