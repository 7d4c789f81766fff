"""Server-sent events: message encoding, keep-alive comments and disconnect handling.

``pump`` turns a producer of messages into the byte chunks of a streaming response. The producer
is asked for messages with a timeout; whenever ``heartbeat_sec`` passes without output a comment
line goes out, so proxies and browsers keep the connection open. When the client disconnects,
Quart cancels the response and closes the generator: ``on_close`` runs in every case.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

MIMETYPE = "text/event-stream"
#: Headers of every stream: never cached, never buffered by a reverse proxy (nginx honours
#: X-Accel-Buffering), so each message reaches the browser at once.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

#: Asked for messages with a timeout in seconds; returns messages (maybe none) or None to end.
Producer = Callable[[float], Awaitable["list[SseMessage] | None"]]


def _field(value: str, name: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"SSE {name} must not contain a line break: {value!r}")
    return value


def _dumps(data: Any) -> str:
    # Compact JSON has no raw line breaks; default=str keeps an odd payload value from ending
    # the stream.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SseMessage:
    """One SSE message: ``event`` name, ``data`` (JSON-encoded unless a str) and optional ``id``."""

    event: str | None
    data: Any
    id: int | str | None = None

    def encode(self) -> bytes:
        """The wire form; multi-line text becomes several ``data:`` lines."""
        lines = []
        if self.id is not None:
            lines.append(f"id: {_field(str(self.id), 'id')}")
        if self.event is not None:
            lines.append(f"event: {_field(self.event, 'event name')}")
        text = self.data if isinstance(self.data, str) else _dumps(self.data)
        lines.extend(f"data: {line}" for line in _LINE_BREAK.split(text))
        return ("\n".join(lines) + "\n\n").encode()


def comment(text: str = "") -> bytes:
    """A comment line (ignored by clients): the keep-alive."""
    return "".join(f":{' ' if line else ''}{line}\n"
                   for line in _LINE_BREAK.split(text)).encode() + b"\n"


def retry(milliseconds: int) -> bytes:
    """Tell the client how long to wait before reconnecting."""
    return f"retry: {int(milliseconds)}\n\n".encode()


async def pump(
    produce: Producer,
    *,
    heartbeat_sec: float,
    on_close: Callable[[], None],
) -> AsyncGenerator[bytes, None]:
    """Yield each batch of messages as one chunk, and a comment after each quiet interval.

    Ends when ``produce`` returns None; ``on_close`` runs however it ends (a disconnect cancels
    the response task, which closes this generator).
    """
    loop = asyncio.get_running_loop()
    try:
        last_write = loop.time()
        while True:
            quiet_for = loop.time() - last_write
            messages = await produce(max(0.0, heartbeat_sec - quiet_for))
            if messages is None:
                return
            if messages:
                yield b"".join(message.encode() for message in messages)
                last_write = loop.time()
            elif loop.time() - last_write >= heartbeat_sec:
                yield comment("keep-alive")
                last_write = loop.time()
    finally:
        on_close()
