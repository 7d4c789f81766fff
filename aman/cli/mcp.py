"""``aman mcp serve``: the running daemon as a stdio MCP server for MCP clients.

The command logic is ``mcp_serve``; ``add_parser`` and ``run`` wire it into the ``aman``
command. It talks to the daemon named by the configuration (``http.bind``, ``http.token``),
or to ``--url`` with ``--token``. Nothing but MCP messages is written to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from aman.config.settings import Settings, split_bind


def daemon_url(settings: Settings) -> str:
    """The base URL of the daemon these settings describe (a wildcard bind means loopback)."""
    host, port = split_bind(settings.http.bind)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def mcp_serve(settings: Settings, *, url: str | None = None, token: str | None = None) -> int:
    """Serve MCP on stdio until the client leaves; the exit code."""
    from aman.mcp.serve import serve_stdio  # the SDK loads only for this command

    base = url or daemon_url(settings)
    secret = token if token is not None else settings.http.token.get_secret_value() or None
    try:
        asyncio.run(serve_stdio(base, secret))
    except KeyboardInterrupt:
        pass
    return 0


def add_parser(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
               common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``aman mcp serve`` to the argparse command tree."""
    group = commands.add_parser("mcp", help="MCP: use the daemon from MCP clients")
    actions = group.add_subparsers(dest="mcp_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the daemon's tools over stdio MCP")
    common(serve)
    serve.add_argument("--url", help="daemon base URL (default: from http.bind)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``aman mcp`` action parsed by ``add_parser``."""
    if args.mcp_command == "serve":
        return mcp_serve(settings, url=args.url, token=args.token)
    print(f"aman: unknown mcp action {args.mcp_command}", file=sys.stderr)
    return 2
