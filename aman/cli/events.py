"""``aman events tail|push``: follow the live stream, push an event."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from aman.cli.client import ApiClient, DaemonDownError
from aman.cli.connect import UsageError, common_options, options
from aman.cli.output import cell, emit, style

#: How long ``tail`` waits between attempts to reach a daemon that went away.
RECONNECT_SEC = 1.0
_EVENT = "event:processed"


def register(cli: click.Group) -> None:
    """Add the ``events`` group."""
    cli.add_command(events)


@click.group()
def events() -> None:
    """The event bus: follow it, push to it."""


def _line(event: dict[str, Any]) -> str:
    stamp = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%H:%M:%S")
    payload = cell(event.get("payload"), width=80)
    return f"{stamp} {style(event['event_type'], bold=True)} {event['source']} {payload}"


@events.command()
@click.option("--type", "types", help="Comma-separated event types (globs: agent:*).")
@click.option("--source", "sources", help="Comma-separated sources (globs allowed).")
@click.option("--count", type=int, default=0,
              help="Stop after this many events (0: follow until Ctrl-C).")
@common_options
def tail(types: str | None, sources: str | None, count: int) -> None:
    """Follow dispatched events; reconnects and resumes when the daemon restarts."""
    params = {k: v for k, v in (("types", types), ("sources", sources)) if v}
    last_id: str | None = None
    seen = 0
    waiting = False
    connected = False

    def opened() -> None:
        nonlocal connected
        connected = True

    with options().client() as api:
        while True:
            try:
                for message in api.stream("/events/stream", params=params, last_event_id=last_id,
                                          on_open=opened):
                    waiting = False
                    if message.id:
                        last_id = message.id
                    if message.event != _EVENT or not isinstance(message.data, dict):
                        continue
                    if options().json:
                        click.echo(json.dumps(message.data))
                    else:
                        click.echo(_line(message.data))
                    seen += 1
                    if count and seen >= count:
                        return
            except DaemonDownError as exc:
                if not connected:
                    raise  # never reached the daemon: say so and stop
                if not waiting:
                    click.echo(f"(daemon went away: {exc.message}; waiting for it)", err=True)
                waiting = True
            except KeyboardInterrupt:
                return
            _pause(api)


def _pause(api: ApiClient) -> None:
    try:
        time.sleep(RECONNECT_SEC)
    except KeyboardInterrupt:
        api.close()
        raise SystemExit(0) from None


@events.command()
@click.argument("event_type")
@click.option("--payload", default="{}", help="JSON object.")
@click.option("--source", default="cli:aman", show_default=True, help="Producer, kind:name.")
@click.option("--priority", type=click.Choice(["low", "normal", "high"]))
@click.option("--agent", help="Agent the event is for.")
@common_options
def push(event_type: str, payload: str, source: str, priority: str | None,
         agent: str | None) -> None:
    """Push an event; prints its id once the daemon has committed it."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise UsageError(f"--payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("--payload must be a JSON object")
    body: dict[str, Any] = {"source": source, "type": event_type, "payload": data}
    if priority:
        body["priority"] = priority
    if agent:
        body["agent_id"] = agent
    with options().client() as api:
        answer = api.post("/events/push", body)
    emit(answer, lambda a: click.echo(a.get("event_id") or a.get("id") or a))
