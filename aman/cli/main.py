"""Command line: ``aman run | status | config validate | mcp serve``.

Exit codes: 0 ok, 2 usage or config, 1 other.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aman import __version__
from aman.cli import mcp as mcp_cli
from aman.config.loader import load_settings
from aman.config.settings import Settings, split_bind
from aman.errors import ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aman", description="aman personal agent runtime")
    parser.add_argument("--version", action="version", version=f"aman {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", type=Path,
                         help="YAML config file (default: AMAN_CONFIG or config/aman.yaml)")
        sub.add_argument("--bind", help="HOST:PORT to listen on (http.bind)")
        sub.add_argument("--token", help="API token (http.token); prefer AMAN_HTTP__TOKEN")
        sub.add_argument("--home", type=Path, help="runtime dir (runtime.dir, or AMAN_HOME)")

    common(commands.add_parser("run", help="run the daemon in the foreground"))
    status = commands.add_parser("status", help="print the phase and readiness of a running daemon")
    common(status)
    status.add_argument("--json", action="store_true", help="print the full status as JSON")
    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    common(config_commands.add_parser("validate", help="load and validate the configuration"))
    mcp_cli.add_parser(commands, common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "http.bind": args.bind,
        "http.token": args.token,
        "runtime.dir": str(args.home.expanduser().resolve()) if args.home else None,
    }
    return load_settings(args.config, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aman`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"aman: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "run":
        from aman.core.daemon import run_daemon  # heavy imports only when serving

        config_path = args.config.expanduser().resolve() if args.config else None
        return run_daemon(settings, config_path=config_path)
    if args.command == "status":
        return _status(settings, as_json=args.json)
    if args.command == "mcp":
        return mcp_cli.run(args, settings)
    print(f"configuration is valid (runtime dir {settings.runtime.dir}, bind {settings.http.bind})")
    return EXIT_OK


def _status(settings: Settings, *, as_json: bool) -> int:
    import httpx

    host, port = split_bind(settings.http.bind)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    headers = {}
    token = settings.http.token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://{host}:{port}/runtime/status"
    try:
        response = httpx.get(url, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        print(f"aman: no daemon answering at {url}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if response.status_code != 200:
        print(f"aman: {url} answered {response.status_code}: {response.text}", file=sys.stderr)
        return EXIT_FAILURE
    status = response.json()
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        line = (
            f"phase {status['phase']} ({status['phase_name']}), state {status['state']}, "
            f"ready: {'yes' if status['ready'] else 'no'}, version {status['version']}, "
            f"uptime {status['uptime_sec']:.0f}s"
        )
        print(line)
        if status.get("failure"):
            failure = status["failure"]
            print(f"boot failed at phase {failure['phase']} step {failure['step']}: "
                  f"{failure['error']}")
    return EXIT_OK if status["ready"] else EXIT_FAILURE
