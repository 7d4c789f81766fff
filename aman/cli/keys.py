"""``aman keys create|ls|revoke|hash``: scoped API keys (the daemon's ``/auth/keys``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from aman.auth.model import SCOPES
from aman.auth.service import hash_secret
from aman.cli.connect import common_options, options, yes_option
from aman.cli.output import confirm, emit, table


def register(cli: click.Group) -> None:
    """Add the ``keys`` group."""
    cli.add_command(keys)


@click.group()
def keys() -> None:
    """Scoped API keys: each client gets only what it needs."""


@keys.command("ls")
@common_options
def ls() -> None:
    """List keys: name, scopes, prefix, last use, expiry, revocation (never a secret)."""
    with options().client() as api:
        body = api.get("/auth/keys")
    emit(body, lambda b: table(b["items"], ["id", "name", "scopes", "prefix", "last_used_at",
                                            "expires_at", "revoked_at"], empty="no keys"))


@keys.command()
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(list(SCOPES)), help="A scope; repeat for several.")
@click.option("--agent", "agents", multiple=True, help="Limit chat and memory to this agent.")
@click.option("--expires", "expires_at", help="ISO 8601 time with a zone.")
@common_options
@yes_option
def create(name: str, scopes: tuple[str, ...], agents: tuple[str, ...],
           expires_at: str | None) -> None:
    """Make a key; its secret is printed this once."""
    confirm(f"create API key {name}")
    body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
    if agents:
        body["agents"] = list(agents)
    if expires_at:
        body["expires_at"] = expires_at
    with options().client() as api:
        made = api.post("/auth/keys", body, confirm=True)

    def human(key: dict[str, Any]) -> None:
        click.echo(f"key {key['name']} ({key['id']}), scopes {', '.join(key['scopes'])}")
        click.echo(f"secret: {key['secret']}")
        click.echo("keep it now: it is never shown again")
        if key.get("warning"):
            click.echo(f"note: {key['warning']}", err=True)

    emit(made, human)


@keys.command()
@click.argument("key_id")
@common_options
@yes_option
def revoke(key_id: str) -> None:
    """Revoke a key at once (its open streams end)."""
    confirm(f"revoke API key {key_id}")
    with options().client() as api:
        answer = api.post(f"/auth/keys/{key_id}/revoke", {}, confirm=True)
    emit(answer, lambda k: click.echo(f"revoked {k['name']}"))


@keys.command("hash")
@click.argument("secret", default="-")
def hash_(secret: str) -> None:
    """Print the sha256: hash auth.keys needs for SECRET (- reads it from stdin)."""
    value = sys.stdin.readline().strip() if secret == "-" else secret
    if not value:
        raise click.UsageError("give the secret, or - and the secret on stdin")
    click.echo(hash_secret(value))
