"""``aman dlq ls|show|retry|discard``: deliveries that failed all their retries."""

from __future__ import annotations

from typing import Any

import click

from aman.cli.connect import common_options, options, yes_option
from aman.cli.output import confirm, emit, table


def register(cli: click.Group) -> None:
    """Add the ``dlq`` group."""
    cli.add_command(dlq)


@click.group()
def dlq() -> None:
    """The dead-letter queue."""


@dlq.command("ls")
@click.option("--status", default="active", show_default=True,
              type=click.Choice(["active", "retrying", "resolved", "discarded", "archived"]))
@click.option("--limit", type=int, default=50, show_default=True)
@common_options
def ls(status: str, limit: int) -> None:
    """List entries."""
    with options().client() as api:
        body = api.get("/dlq", params={"status": status, "limit": limit})
    emit(body, lambda b: table(b["items"], ["id", "event_type", "source", "reason", "status"],
                               empty="the DLQ is empty"))


@dlq.command()
@click.argument("entry_id")
@common_options
def show(entry_id: str) -> None:
    """Show one entry with its event and last error."""
    with options().client() as api:
        emit(api.get(f"/dlq/{entry_id}"))


@dlq.command()
@click.argument("entry_id")
@click.option("--reason", help="Why, for the audit log.")
@common_options
@yes_option
def retry(entry_id: str, reason: str | None) -> None:
    """Deliver an entry's event again."""
    confirm(f"retry DLQ entry {entry_id}")
    body: dict[str, Any] = {"reason": reason} if reason else {}
    with options().client() as api:
        answer = api.post(f"/dlq/{entry_id}/retry", body, confirm=True)
    emit(answer, lambda _: click.echo(f"retrying {entry_id}"))


@dlq.command()
@click.argument("entry_id")
@common_options
@yes_option
def discard(entry_id: str) -> None:
    """Drop an entry for good."""
    confirm(f"discard DLQ entry {entry_id}")
    with options().client() as api:
        answer = api.post(f"/dlq/{entry_id}/discard", {}, confirm=True)
    emit(answer, lambda _: click.echo(f"discarded {entry_id}"))
