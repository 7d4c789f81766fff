"""A test plugin: each delivery appends ``<event id> <event type> <cron scheduled_at_ms|->`` to
one file with a single ``O_APPEND`` write, so several daemons can share the file and a test can
count how often each event's handler ran. The write comes after a pause (the ``delay_ms`` option,
or the event's own ``payload.delay_ms``), so a delivery can be caught in flight."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.plugins import hookimpl


@hookimpl
def register_event_types(context: Any) -> list[tuple[str, str]]:
    return [("side_effect.load", "A test event whose delivery leaves a line in a file.")]


@hookimpl
def startup(context: Any) -> None:
    path = str(context.config["file"])
    delay = int(context.config["delay_ms"]) / 1000

    async def record(event: Event) -> None:
        asked = event.payload.get("delay_ms")  # an event may ask for a slower delivery
        pause = asked / 1000 if isinstance(asked, int) else delay
        if pause:
            await asyncio.sleep(pause)
        cron = event.payload.get("cron")
        scheduled = cron.get("scheduled_at_ms", "-") if isinstance(cron, dict) else "-"
        line = f"{event.id} {event.event_type} {scheduled}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    types = frozenset(str(t) for t in context.config["event_types"])
    context.bus.subscribe("record", record, EventFilter(event_types=types))
