"""``aman audit ls|verify``: who did what, and whether the hash chain holds."""

from __future__ import annotations

from typing import Any

import click

from aman.cli.connect import common_options, options
from aman.cli.output import emit, table


def register(cli: click.Group) -> None:
    """Add the ``audit`` group."""
    cli.add_command(audit)


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command("ls")
@click.option("--action", help="Only these actions (globs allowed: config.*).")
@click.option("--limit", type=int, default=20, show_default=True)
@common_options
def ls(action: str | None, limit: int) -> None:
    """List the newest records."""
    params: dict[str, Any] = {"limit": limit}
    if action:
        params["action"] = action
    with options().client() as api:
        body = api.get("/audit-log", params=params)
    emit(body, lambda b: table(b["items"], ["ts_ms", "operator", "action", "target", "outcome"],
                               empty="no records"))


@audit.command()
@common_options
def verify() -> None:
    """Check the audit log's hash chain (exit 1 when it is broken)."""
    with options().client() as api:
        body = api.get("/audit-log/verify")
    emit(body, lambda b: click.echo(
        f"audit chain ok ({b.get('checked')} records)" if b.get("ok")
        else f"audit chain BROKEN: {b}"))
    if not body.get("ok"):
        click.get_current_context().exit(1)
