"""``aman skills ls|show|enable|disable``."""

from __future__ import annotations

import click

from aman.cli.connect import common_options, options
from aman.cli.output import emit, table


def register(cli: click.Group) -> None:
    """Add the ``skills`` group."""
    cli.add_command(skills)


@click.group()
def skills() -> None:
    """Skills loaded from the watched folders."""


@skills.command("ls")
@common_options
def ls() -> None:
    """List skills with their state."""
    with options().client() as api:
        body = api.get("/skills")
    emit(body, lambda b: table(b["items"], ["name", "kind", "status", "enabled", "description"],
                               empty="no skills"))


@skills.command()
@click.argument("name")
@common_options
def show(name: str) -> None:
    """Show one skill."""
    with options().client() as api:
        emit(api.get(f"/skill/{name}"))


@skills.command()
@click.argument("name")
@common_options
def enable(name: str) -> None:
    """Enable a skill."""
    with options().client() as api:
        emit(api.post(f"/skill/{name}/enable"), lambda _: click.echo(f"enabled {name}"))


@skills.command()
@click.argument("name")
@common_options
def disable(name: str) -> None:
    """Disable a skill."""
    with options().client() as api:
        emit(api.post(f"/skill/{name}/disable"), lambda _: click.echo(f"disabled {name}"))
