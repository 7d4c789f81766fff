"""``aman approvals ls|approve|deny CODE``: answer tool calls waiting for a human."""

from __future__ import annotations

from typing import Any

import click

from aman.cli.connect import common_options, options
from aman.cli.output import emit, table


def register(cli: click.Group) -> None:
    """Add the ``approvals`` group."""
    cli.add_command(approvals)


@click.group()
def approvals() -> None:
    """Tool calls waiting for approval."""


@approvals.command("ls")
@common_options
def ls() -> None:
    """List the requests that can still be answered, oldest first."""
    with options().client() as api:
        body = api.get("/tool-auth/pending")
    emit(body, lambda b: table(b["items"], ["code", "tool_name", "sensitivity", "session_id",
                                            "arguments_summary"], empty="nothing waiting"))


def _answer(code: str, approved: bool, remember: str | None) -> None:
    payload: dict[str, Any] = {"auth_id": code, "approved": approved}
    if remember:
        payload["remember"] = remember
    with options().client() as api:
        body = api.post("/tool-auth/respond", payload)
    emit(body, lambda b: click.echo(f"{b.get('tool_name', 'call')} {b['status']}"))


@approvals.command()
@click.argument("code")
@click.option("--session", "for_session", is_flag=True,
              help="Approve this tool for the rest of the session.")
@common_options
def approve(code: str, for_session: bool) -> None:
    """Approve a request by its code (or auth_id)."""
    _answer(code, True, "session" if for_session else None)


@approvals.command()
@click.argument("code")
@common_options
def deny(code: str) -> None:
    """Deny a request by its code (or auth_id)."""
    _answer(code, False, None)
