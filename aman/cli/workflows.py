"""``aman workflows ls|show``: workflow definitions and their instances."""

from __future__ import annotations

import click

from aman.cli.connect import common_options, options
from aman.cli.output import emit, table


def register(cli: click.Group) -> None:
    """Add the ``workflows`` group."""
    cli.add_command(workflows)


@click.group()
def workflows() -> None:
    """Workflow definitions."""


@workflows.command("ls")
@common_options
def ls() -> None:
    """List workflow definitions."""
    with options().client() as api:
        body = api.get("/workflows")
    emit(body, lambda b: table(b["items"], ["name", "status", "version", "description"],
                               empty="no workflows"))


@workflows.command()
@click.argument("name")
@common_options
def show(name: str) -> None:
    """Show one definition."""
    with options().client() as api:
        emit(api.get(f"/workflow/{name}"))
