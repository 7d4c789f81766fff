"""Following one chat session's SSE stream from a thread, and reading one turn off it.

The stream is opened before a message is sent, so no chunk of its reply is missed; a dropped
connection is resumed with ``Last-Event-ID``. The terminal side reads the queue, so Ctrl-C
reaches the main thread at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aman.cli.client import ApiClient, CliError, SseEvent

#: How long to wait for the stream to connect before sending anyway.
OPEN_TIMEOUT_SEC = 10.0
#: Pause before reconnecting a dropped stream.
RECONNECT_SEC = 0.5
_CLOSED = object()


class Printer(Protocol):
    """Where a turn's text and notes go."""

    def text(self, delta: str) -> None:
        """A piece of the reply."""

    def note(self, line: str) -> None:
        """One line about a tool call."""

    def newline(self) -> None:
        """End the current line if text is on it."""


@dataclass(frozen=True)
class TurnEnd:
    """How a turn ended: its reply, an error with its hint, or an interruption."""

    reply: str | None = None
    error: str | None = None
    hint: str | None = None
    interrupted: bool = False


class SessionStream:
    """A thread that follows ``/chat/session/{id}/stream`` into a queue."""

    def __init__(self, make_client: Callable[[], ApiClient], session_id: str) -> None:
        self.session_id = session_id
        self._make_client = make_client
        self._queue: queue.Queue[Any] = queue.Queue()
        self._opened = threading.Event()
        self._closing = threading.Event()
        self._client: ApiClient | None = None
        self._thread = threading.Thread(target=self._run, name=f"sse:{session_id}", daemon=True)

    def open(self) -> None:
        """Start following and wait until the stream is connected."""
        self._thread.start()
        if not self._opened.wait(OPEN_TIMEOUT_SEC):
            raise CliError("the session's event stream did not open",
                           "check the daemon with `aman status`")

    def close(self) -> None:
        """Stop following (the thread ends with its connection)."""
        self._closing.set()
        if self._client is not None:
            self._client.close()

    def _run(self) -> None:
        last_id: str | None = None
        while not self._closing.is_set():
            self._client = self._make_client()
            try:
                for message in self._client.stream(
                        f"/chat/session/{self.session_id}/stream", last_event_id=last_id,
                        on_open=self._opened.set):
                    last_id = message.id or last_id
                    self._queue.put(message)
            except Exception as exc:  # noqa: BLE001 - the connection ends in many ways
                if self._closing.is_set():
                    break
                self._queue.put(exc)
            finally:
                self._client.close()
            self._closing.wait(RECONNECT_SEC)
        self._queue.put(_CLOSED)

    def drain(self) -> None:
        """Forget what arrived before the next turn starts."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def follow(self, printer: Printer,
               approve: Callable[[dict[str, Any], Printer], None]) -> TurnEnd:
        """Show the running turn until it ends; KeyboardInterrupt leaves it to the caller."""
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _CLOSED:
                raise CliError("the session's event stream closed")
            if not isinstance(item, SseEvent) or not isinstance(item.data, dict):
                continue
            end = self._handle(item.data, printer, approve)
            if end is not None:
                return end

    def _handle(self, event: dict[str, Any], printer: Printer,
                approve: Callable[[dict[str, Any], Printer], None]) -> TurnEnd | None:
        kind = event.get("event_type")
        payload = event.get("payload") or {}
        if payload.get("session_id") != self.session_id:
            return None
        if kind == "agent:reply_chunk":
            printer.text(str(payload.get("delta", "")))
        elif kind == "llm_tool_call":
            arguments = payload.get("arguments")
            printer.note(f"  -> {payload.get('tool')} {_short(arguments)}")
        elif kind == "llm_tool_result" and payload.get("status") != "success":
            # Only what went wrong: a success is already visible in the reply that follows.
            printer.note(f"  <- {payload.get('tool')} {payload.get('status')}")
        elif kind == "tool_auth_required":
            approve(payload, printer)
        elif kind == "agent:reply_ready":
            return TurnEnd(reply=str(payload.get("reply") or ""))
        elif kind == "llm_error" and payload.get("error"):
            error = payload.get("error")
            message = error.get("message") if isinstance(error, dict) else str(error)
            return TurnEnd(error=message, hint=payload.get("hint"))
        elif kind == "agent:reply_interrupted":
            return TurnEnd(interrupted=True)
        return None


def _short(value: Any, width: int = 60) -> str:
    text = " ".join(str(value).split()) if not isinstance(value, dict) else ", ".join(
        f"{k}={v!r}" for k, v in value.items())
    return text if len(text) <= width else text[: width - 1] + "…"
