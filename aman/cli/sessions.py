"""``aman sessions ls|show|export|rm``: chat sessions and their messages."""

from __future__ import annotations

import json
from typing import Any

import click

from aman.cli.client import ApiClient
from aman.cli.connect import common_options, options, yes_option
from aman.cli.output import confirm, emit, fields, table

#: The most messages one history page holds; export follows the cursor to the end.
_PAGE = 200


def register(cli: click.Group) -> None:
    """Add the ``sessions`` group."""
    cli.add_command(sessions)


@click.group()
def sessions() -> None:
    """Chat sessions: list, show, export, remove."""


@sessions.command("ls")
@click.option("--agent", help="Only this agent's sessions.")
@click.option("--limit", type=int, default=50, show_default=True)
@common_options
def ls(agent: str | None, limit: int) -> None:
    """List sessions, most recently active first."""
    params: dict[str, Any] = {"limit": limit}
    if agent:
        params["agent_id"] = agent
    with options().client() as api:
        body = api.get("/chat/sessions", params=params)
    emit(body, lambda b: table(b["items"], ["id", "agent_id", "state", "message_count",
                                            "title"], empty="no sessions"))


@sessions.command()
@click.argument("session_id")
@common_options
def show(session_id: str) -> None:
    """Show a session and its visible messages."""
    with options().client() as api:
        body = api.get(f"/chat/session/{session_id}/state")

    def human(state: dict[str, Any]) -> None:
        fields(state, ["id", "agent_id", "state", "title", "message_count", "last_active_at"])
        table(state.get("messages", []), ["seq", "role", "status", "content"],
              empty="no messages")

    emit(body, human)


def history(api: ApiClient, session_id: str) -> list[dict[str, Any]]:
    """Every visible message of a session, oldest first (follows the cursor)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": _PAGE}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"/chat/session/{session_id}/history", params=params)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


@sessions.command()
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md",
              show_default=True)
@common_options
def export(session_id: str, fmt: str) -> None:
    """Print a whole conversation as Markdown or JSON."""
    with options().client() as api:
        state = api.get(f"/chat/session/{session_id}/state")
        messages = history(api, session_id)
    if fmt == "json" or options().json:
        state = {k: v for k, v in state.items() if k != "messages"}
        click.echo(json.dumps({"session": state, "messages": messages}, indent=2))
        return
    click.echo(f"# {state.get('title') or 'Session ' + session_id}\n")
    click.echo(f"agent {state['agent_id']}, session {session_id}\n")
    for message in messages:
        click.echo(f"## {message['role']}\n\n{message['content']}\n")


@sessions.command("rm")
@click.argument("session_id")
@common_options
@yes_option
def rm(session_id: str) -> None:
    """Delete a session and its messages."""
    confirm(f"delete session {session_id}")
    with options().client() as api:
        body = api.delete(f"/chat/session/{session_id}")
    emit(body, lambda b: click.echo(f"deleted session {session_id} ({b['messages']} messages)"))
