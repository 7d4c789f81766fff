"""A real HTTP server that answers like the Telegram Bot API, Slack's Web API and a generic bridge.

Runs on a background thread, so in-process tests and a real daemon process (e2e) both reach it.
Point a channel's ``api_base`` (or ``reply_url``) at ``server.url``. Every POST is recorded;
``fail_next(n, status=..., retry_after=...)`` makes the next ``n`` sends fail the platform's way
(Telegram: ``{"ok": false, "error_code": ..., "parameters": {"retry_after": ...}}``; Slack and
generic: the HTTP status with ``Retry-After``).

Intake, for instances that pull: Telegram's ``getUpdates`` long-polls the updates queued with
``queue_update`` (an ``offset`` confirms and forgets those below it, as Telegram does; 409 while
``webhook_set``; ``fail_polls`` scripts failures such as 429 with ``retry_after``), and Slack's
``apps.connections.open`` hands out the URL of a local WebSocket server speaking Socket Mode
(``hello``, ``events_api`` envelopes sent with ``slack_event``, acks recorded in ``acks``,
``drop_socket`` and ``slack_disconnect`` to cut or refresh the connection; ``slack_open_error``
and ``fail_polls`` make ``apps.connections.open`` refuse).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.helpers import wait_for_sync
from tests.llm.fakes import answer_json

#: Longest a fake getUpdates holds a request, whatever timeout was asked (keeps shutdown quick).
_MAX_HOLD_SEC = 5.0


@dataclass
class Sent:
    """One request the fake platform took."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    raw: bytes
    at: float

    @property
    def text(self) -> str:
        """The message text, whatever the platform calls it."""
        return str(self.body.get("text", ""))


@dataclass
class Poll:
    """One getUpdates call."""

    token: str
    offset: int | None
    at: float
    status: int


class FakePlatforms:
    """Telegram at ``/bot<token>/sendMessage``, Slack at ``/chat.postMessage``, generic at
    ``/reply``; ``sent`` holds what was accepted, ``attempts`` counts every send."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        # Telegram intake
        self.updates: dict[str, list[dict[str, Any]]] = {}  # bot token → pending updates
        self.webhook_set = False
        self.polls: list[Poll] = []
        self._poll_failures: list[tuple[int, float | None]] = []
        self._description = "scripted failure"
        self._arrived = threading.Condition(self._lock)
        self._closing = False
        # Slack Socket Mode
        self.connections_opened = 0
        self.slack_open_error: str | None = None  # apps.connections.open answers ok: false
        self.acks: list[str] = []
        self.sockets: list[ServerConnection] = []
        self._envelopes = 0
        self._ws = serve(self._socket_session, "127.0.0.1", 0)
        self.ws_url = f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/link"
        self._ws_thread = threading.Thread(target=self._ws.serve_forever, daemon=True)
        self._ws_thread.start()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fake._handle(self, raw)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """The next ``count`` requests fail with ``status``."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def texts(self, path_suffix: str = "") -> list[str]:
        """Texts accepted so far (only at paths ending with ``path_suffix``)."""
        with self._lock:
            return [s.text for s in self.sent if s.path.endswith(path_suffix)]

    def sent_now(self) -> list[Sent]:
        """A copy of what was accepted so far (the server runs on its own thread)."""
        with self._lock:
            return list(self.sent)

    def close(self) -> None:
        """Stop serving and free the ports."""
        with self._lock:
            self._closing = True
            self._arrived.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self.sockets):
            with contextlib.suppress(Exception):
                connection.close()
        self._ws.shutdown()

    # --- Telegram getUpdates -----------------------------------------------------------------

    def queue_update(self, update: dict[str, Any], token: str = "123:abc") -> None:
        """Make ``update`` pending for the bot ``token``, as when someone writes to it."""
        with self._lock:
            self.updates.setdefault(token, []).append(update)
            self._arrived.notify_all()

    def fail_polls(self, count: int, *, status: int, retry_after: float | None = None,
                   description: str = "scripted failure") -> None:
        """The next ``count`` getUpdates calls fail with ``status`` (Telegram's error shape)."""
        with self._lock:
            self._poll_failures.extend([(status, retry_after)] * count)
            self._description = description

    def wait_polls(self, predicate: Callable[[list[Poll]], bool], timeout: float = 15.0) -> None:
        """Block until ``predicate(polls)`` holds."""
        def matched() -> bool:
            with self._lock:
                return predicate(list(self.polls))

        wait_for_sync(matched, timeout, what="getUpdates calls that match")

    def _get_updates(self, handler: BaseHTTPRequestHandler, token: str,
                     body: dict[str, Any]) -> None:
        offset = body.get("offset")
        hold = min(float(body.get("timeout", 0)), _MAX_HOLD_SEC)
        with self._lock:
            failure = self._poll_failures.pop(0) if self._poll_failures else None
            status = 409 if self.webhook_set else failure[0] if failure else 200
            self.polls.append(Poll(token, offset, time.monotonic(), status))
            pending = self.updates.setdefault(token, [])
            if isinstance(offset, int):  # confirms, and forgets, every update below it
                pending[:] = [u for u in pending if u["update_id"] >= offset]
        if self.webhook_set:
            answer_json(handler, 409, {"ok": False, "error_code": 409, "description": (
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first")})
            return
        if failure is not None:
            error: dict[str, Any] = {"ok": False, "error_code": failure[0],
                                     "description": self._description}
            if failure[1] is not None:
                error["parameters"] = {"retry_after": failure[1]}
            answer_json(handler, failure[0], error)
            return
        deadline = time.monotonic() + hold
        with self._lock:
            while not pending and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            result = list(pending)
        with contextlib.suppress(OSError):  # the client gave up (paused, stopped, killed)
            answer_json(handler, 200, {"ok": True, "result": result})

    # --- Slack Socket Mode -------------------------------------------------------------------

    def slack_event(self, event: dict[str, Any], *, event_id: str) -> str:
        """Send an ``events_api`` envelope over the newest socket; returns its envelope id."""
        with self._lock:
            self._envelopes += 1
            envelope_id = f"env-{self._envelopes}"
            connection = self.sockets[-1]
        connection.send(json.dumps({
            "envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
            "retry_attempt": 0, "retry_reason": "",
            "payload": {"type": "event_callback", "event_id": event_id, "team_id": "T1",
                        "api_app_id": "A1", "event_time": int(time.time()), "event": event,
                        "authorizations": [{"user_id": "U0AMAN", "is_bot": True}]}}))
        return envelope_id

    def slack_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        self.sockets[-1].send(json.dumps({"type": "disconnect", "reason": reason,
                                          "debug_info": {"host": "fake"}}))

    def drop_socket(self) -> None:
        """Cut the newest socket without a closing handshake (a network drop)."""
        connection = self.sockets[-1]
        with contextlib.suppress(OSError):
            connection.socket.shutdown(socket.SHUT_RDWR)

    def wait_sockets(self, count: int, timeout: float = 15.0) -> None:
        """Block until ``count`` sockets were opened and greeted."""
        def opened() -> bool:
            with self._lock:
                return len(self.sockets) >= count

        wait_for_sync(opened, timeout, what=f"{count} socket(s) opened")

    def wait_acks(self, envelope_id: str, timeout: float = 15.0) -> None:
        """Block until ``envelope_id`` was acknowledged."""
        def acknowledged() -> bool:
            with self._lock:
                return envelope_id in self.acks

        wait_for_sync(acknowledged, timeout, what=f"{envelope_id} acknowledged")

    def _socket_session(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1,
                                    "connection_info": {"app_id": "A1"}}))
        with self._lock:
            self.sockets.append(connection)
        try:
            for message in connection:
                data = json.loads(message)
                if "envelope_id" in data:
                    with self._lock:
                        self.acks.append(str(data["envelope_id"]))
        except (ConnectionClosed, OSError):
            pass

    # --- sends -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = handler.path
        if path.endswith("/getUpdates"):
            token = path.removeprefix("/bot").removesuffix("/getUpdates")
            self._get_updates(handler, token, json.loads(raw or b"{}"))
            return
        if path.endswith("/deleteWebhook"):
            self.webhook_set = False
            answer_json(handler, 200, {"ok": True, "result": True})
            return
        if path.endswith("/apps.connections.open"):
            with self._lock:
                self.connections_opened += 1
                failure = self._poll_failures.pop(0) if self._poll_failures else None
            if failure is not None:
                headers = {"Retry-After": f"{failure[1]:g}"} if failure[1] is not None else {}
                answer_json(handler, failure[0], {"ok": False, "error": "ratelimited"}, headers)
                return
            if self.slack_open_error is not None:
                answer_json(handler, 200, {"ok": False, "error": self.slack_open_error})
                return
            answer_json(handler, 200, {"ok": True, "url": self.ws_url})
            return
        with self._lock:
            self.attempts += 1
            failure = self._failures.pop(0) if self._failures else None
        telegram = "/sendMessage" in path
        if failure is not None:
            status, retry_after = failure
            if telegram:
                body: dict[str, Any] = {"ok": False, "error_code": status,
                                        "description": "scripted failure"}
                if retry_after is not None:
                    body["parameters"] = {"retry_after": retry_after}
                answer_json(handler, status, body)
            else:
                headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                answer_json(handler, status, {"ok": False, "error": "scripted_failure"},
                             headers)
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            answer_json(handler, 400, {"ok": False, "error": "invalid_json"})
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.sent.append(Sent(path, headers, body, raw, time.monotonic()))
            count = len(self.sent)
        if telegram:
            answer_json(handler, 200, {"ok": True, "result": {"message_id": count}})
        else:
            answer_json(handler, 200, {"ok": True, "ts": f"{count}.000100"})
