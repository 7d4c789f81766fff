"""``aman run`` (the daemon in the foreground) and ``aman status`` (its phase and readiness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aman.cli.client import DaemonDownError
from aman.cli.connect import UsageError, common_options, options
from aman.cli.output import emit


def register(cli: click.Group) -> None:
    """Add ``run`` and ``status``."""
    cli.add_command(run)
    cli.add_command(status)


@click.command()
@click.option("--config", type=click.Path(path_type=Path),
              help="YAML config file (default: AMAN_CONFIG or config/aman.yaml).")
@click.option("--bind", metavar="HOST:PORT", help="Listen on HOST:PORT (http.bind).")
@click.option("--token", help="API token (http.token); prefer AMAN_HTTP__TOKEN.")
@click.option("--home", type=click.Path(path_type=Path),
              help="Runtime dir (runtime.dir, or AMAN_HOME).")
def run(config: Path | None, bind: str | None, token: str | None, home: Path | None) -> None:
    """Run the daemon in the foreground; SIGINT/SIGTERM stop it."""
    from aman.config.loader import load_settings
    from aman.errors import ConfigError

    overrides: dict[str, Any] = {
        "http.bind": bind, "http.token": token,
        "runtime.dir": str(home.expanduser().resolve()) if home else None,
    }
    try:
        settings = load_settings(config, overrides=overrides)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from aman.core.daemon import run_daemon  # heavy imports only when serving

    config_path = config.expanduser().resolve() if config else None
    click.get_current_context().exit(run_daemon(settings, config_path=config_path))


@click.command()
@common_options
def status() -> None:
    """Print the phase and readiness of a running daemon (exit 1 unless ready)."""
    opts = options()
    try:
        with opts.client() as api:
            body = api.get("/runtime/status")
    except DaemonDownError as exc:
        # A readiness probe: "not answering" is "not ready" (exit 1), as it always was.
        exc.exit_code = 1
        raise
    emit(body, _show_status)
    if not body["ready"]:
        click.get_current_context().exit(1)


def _show_status(status: dict[str, Any]) -> None:
    click.echo(
        f"phase {status['phase']} ({status['phase_name']}), state {status['state']}, "
        f"ready: {'yes' if status['ready'] else 'no'}, version {status['version']}, "
        f"uptime {status['uptime_sec']:.0f}s")
    failure = status.get("failure")
    if failure:
        click.echo(f"boot failed at phase {failure['phase']} step {failure['step']}: "
                   f"{failure['error']}")
