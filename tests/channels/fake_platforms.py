"""A real HTTP server that answers like the Telegram Bot API, Slack's Web API and a generic bridge.

Runs on a background thread, so in-process tests and a real daemon process (e2e) both reach it.
Point a channel's ``api_base`` (or ``reply_url``) at ``server.url``. Every POST is recorded;
``fail_next(n, status=..., retry_after=...)`` makes the next ``n`` sends fail the platform's way
(Telegram: ``{"ok": false, "error_code": ..., "parameters": {"retry_after": ...}}``; Slack and
generic: the HTTP status with ``Retry-After``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.llm.fakes import answer_json


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


class FakePlatforms:
    """Telegram at ``/bot<token>/sendMessage``, Slack at ``/chat.postMessage``, generic at
    ``/reply``; ``sent`` holds what was accepted, ``attempts`` counts every request."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
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

    def wait_for(self, predicate: Callable[[list[Sent]], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate(sent)`` holds (the server runs on its own thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.sent)):
                    return
            time.sleep(0.02)
        with self._lock:
            raise AssertionError(f"fake platform never got what was expected; sent: "
                                 f"{[(s.path, s.text[:60]) for s in self.sent]}")

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = handler.path
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
