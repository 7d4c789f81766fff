"""A test plugin: its handler for ``gated.work`` events appends the event id to ``runs.log`` in
its folder, then waits until the gate opens: ``POST /api/v1/gated/open``, or a file named
``open`` in the folder when the daemon starts. A test sees from the log how often the handler
ran, and holds a run in progress for as long as it needs (a ``kill -9``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.plugins import PluginRoute, hookimpl

#: Set once the gate is open: every run waiting, and every later one, finishes.
GATE = asyncio.Event()


def folder_of(context: Any) -> Path:
    return Path(context.config["folder"])


@hookimpl
def register_routes(context: Any) -> list[PluginRoute]:
    def open_gate(request: Any) -> dict[str, bool]:
        (folder_of(context) / "open").touch()
        GATE.set()
        return {"open": True}

    return [PluginRoute("POST", "/open", open_gate)]


@hookimpl
def startup(context: Any) -> None:
    folder = folder_of(context)
    if (folder / "open").exists():
        GATE.set()

    async def gated(event: Event) -> None:
        with (folder / "runs.log").open("a", encoding="utf-8") as runs:
            runs.write(f"{event.id}\n")
        await GATE.wait()

    context.bus.subscribe("gate", gated, EventFilter(event_types=frozenset({"gated.work"})),
                          timeout=600)
