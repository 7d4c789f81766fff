"""``aman config validate|get|set|unset``: check a config file, read and change live keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from aman.cli.client import CliError
from aman.cli.connect import UsageError, common_options, options, yes_option
from aman.cli.output import confirm, emit, table


def register(cli: click.Group) -> None:
    """Add the ``config`` group."""
    cli.add_command(config)


@click.group()
def config() -> None:
    """Validate the configuration; read and change live keys."""


@config.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="YAML config file (default: AMAN_CONFIG or config/aman.yaml).")
@click.option("--bind", metavar="HOST:PORT", help="http.bind to validate with.")
@click.option("--token", help="http.token to validate with.")
@click.option("--home", type=click.Path(path_type=Path), help="Runtime dir (runtime.dir).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(config_path: Path | None, bind: str | None, token: str | None,
             home: Path | None, as_json: bool) -> None:
    """Load and validate the configuration without starting anything (exit 2 when invalid)."""
    from aman.config.loader import load_settings
    from aman.errors import ConfigError

    overrides: dict[str, Any] = {
        "http.bind": bind, "http.token": token,
        "runtime.dir": str(home.expanduser().resolve()) if home else None,
    }
    try:
        settings = load_settings(config_path, overrides=overrides)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"valid": True, "runtime_dir": str(settings.runtime.dir),
                               "bind": settings.http.bind}))
        return
    click.echo(f"configuration is valid (runtime dir {settings.runtime.dir}, "
               f"bind {settings.http.bind})")


@config.command("keys")
@common_options
def keys() -> None:
    """List the keys that can change while the daemon runs, with their values."""
    with options().client() as api:
        body = api.get("/config/live-keys")
    emit(body, lambda b: table(b["keys"], ["key", "value"]))


@config.command()
@click.argument("key")
@common_options
def get(key: str) -> None:
    """Print the value in force of a live key."""
    with options().client() as api:
        body = api.get("/config/live-keys")
    found = next((k for k in body["keys"] if k["key"] == key), None)
    if found is None:
        raise CliError(f"{key!r} is not a live key",
                       "`aman config keys` lists them; other keys are read from the config file")
    emit(found, lambda k: click.echo(yaml.safe_dump(k["value"], default_flow_style=True).strip()
                                     .removesuffix("...").strip()))


@config.command("set")
@click.argument("key")
@click.argument("value")
@common_options
@yes_option
def set_(key: str, value: str) -> None:
    """Set a live key (VALUE is YAML: 20000, true, [a, b]); kept across restarts."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise UsageError(f"VALUE is not YAML: {exc}") from None
    confirm(f"set {key} to {value}")
    with options().client() as api:
        body = api.post("/config/set", {"changes": {key: parsed}}, confirm=True)
    emit(body, lambda _: click.echo(f"{key} = {value}"))


@config.command()
@click.argument("keys", nargs=-1, required=True)
@common_options
@yes_option
def unset(keys: tuple[str, ...]) -> None:
    """Drop live changes: the keys go back to their file, environment or default value."""
    confirm(f"unset {', '.join(keys)}")
    with options().client() as api:
        body = api.post("/config/unset", {"keys": list(keys)}, confirm=True)
    emit(body, lambda _: click.echo(f"unset {', '.join(keys)}"))
