"""``aman plugins ls|install|enable|disable|rm``."""

from __future__ import annotations

from pathlib import Path

import click

from aman.cli.connect import common_options, options, yes_option
from aman.cli.output import confirm, emit, table


def register(cli: click.Group) -> None:
    """Add the ``plugins`` group."""
    cli.add_command(plugins)


@click.group()
def plugins() -> None:
    """Plugins: list, install, enable, disable, remove."""


@plugins.command("ls")
@common_options
def ls() -> None:
    """List plugins with their state."""
    with options().client() as api:
        body = api.get("/plugins")
    emit(body, lambda b: table(b["items"], ["name", "version", "state", "source", "error"],
                               empty="no plugins"))


@plugins.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@common_options
def install(archive: Path) -> None:
    """Install a plugin from a .tar.gz."""
    with options().client() as api, archive.open("rb") as stream:
        body = api.request("POST", "/plugin/install",
                           files={"plugin": (archive.name, stream, "application/gzip")}).json()
    emit(body, lambda b: click.echo(f"installed {b.get('name', archive.name)}"))


@plugins.command()
@click.argument("name")
@common_options
def enable(name: str) -> None:
    """Enable a plugin."""
    with options().client() as api:
        emit(api.post(f"/plugin/{name}/enable"), lambda _: click.echo(f"enabled {name}"))


@plugins.command()
@click.argument("name")
@common_options
@yes_option
def disable(name: str) -> None:
    """Disable a plugin (its routes, tools and sources go away)."""
    confirm(f"disable plugin {name}")
    with options().client() as api:
        body = api.post(f"/plugin/{name}/disable", confirm=True)
    emit(body, lambda _: click.echo(f"disabled {name}"))


@plugins.command("rm")
@click.argument("name")
@common_options
@yes_option
def rm(name: str) -> None:
    """Uninstall a plugin installed with ``aman plugins install``."""
    confirm(f"uninstall plugin {name}")
    with options().client() as api:
        body = api.post(f"/plugin/{name}/uninstall", confirm=True)
    emit(body, lambda _: click.echo(f"uninstalled {name}"))
