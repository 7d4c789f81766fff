"""A test plugin: its handler for ``gated.work`` events appends the event id to ``runs.log`` in
its folder, then waits until a file named ``open`` appears there. A test sees from the log how
often the handler ran, and holds a run in progress for as long as it needs (a ``kill -9``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.plugins import hookimpl

#: Seconds between looks for the gate file; the handler's timeout is far longer.
POLL_SEC = 0.05


@hookimpl
def startup(context: Any) -> None:
    folder = Path(context.config["folder"])

    async def gated(event: Event) -> None:
        with (folder / "runs.log").open("a", encoding="utf-8") as runs:
            runs.write(f"{event.id}\n")
        while not (folder / "open").exists():
            await asyncio.sleep(POLL_SEC)

    context.bus.subscribe("gate", gated, EventFilter(event_types=frozenset({"gated.work"})),
                          timeout=600)
