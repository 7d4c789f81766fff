"""One small HTTP client for every command: auth and operator headers, errors as one line each.

The daemon answers every failure as ``{"error": {code, message, hint, request_id}}``; the client
turns that into ``ApiError`` whose text is the message, then the hint, so every command prints
the same two lines. A daemon that does not answer at all is ``DaemonDownError`` (exit 3).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

#: Long enough for a chat turn answered with ``wait``; streams use no read timeout at all.
DEFAULT_TIMEOUT_SEC = 30.0


class CliError(Exception):
    """A failure the CLI reports as one or two lines and an exit code, never a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        """What the user reads on stderr: the message, then how to fix it."""
        return [f"aman: {self.message}"] + ([f"hint: {self.hint}"] if self.hint else [])


class DaemonDownError(CliError):
    """Nothing answers at the daemon's address: exit 3, so scripts can tell it apart."""

    exit_code = 3

    def lines(self) -> list[str]:
        """One line: what is wrong and how to start the daemon."""
        return [f"aman: {self.message}" + (f"; {self.hint}" if self.hint else "")]


class ApiError(CliError):
    """The daemon refused a request with its error shape."""

    def __init__(self, status: int, code: str, message: str, hint: str | None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class SseEvent:
    """One server-sent message: its ``event`` name, decoded ``data`` and ``id``."""

    event: str | None
    data: Any
    id: str | None


class ApiClient:
    """Requests to one daemon with its token and the operator's name on every call."""

    def __init__(self, base_url: str, *, token: str | None = None,
                 operator: str | None = None, timeout: float = DEFAULT_TIMEOUT_SEC) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"user-agent": "aman-cli"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if operator:
            headers["x-aman-operator"] = operator
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, confirm: bool = False,
                allow: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        """Send one request; raise ``ApiError`` on a 4xx/5xx not in ``allow``."""
        headers = dict(kwargs.pop("headers", None) or {})
        if confirm:
            headers["x-aman-confirm"] = "yes"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise self._down(exc) from None
        if response.status_code >= 400 and response.status_code not in allow:
            raise api_error(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET and decode the JSON body."""
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST a JSON body (or nothing) and decode the JSON answer."""
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs).json()

    def delete(self, path: str, **kwargs: Any) -> Any:
        """DELETE and decode the JSON answer."""
        return self.request("DELETE", path, **kwargs).json()

    def stream(self, path: str, *, params: dict[str, str] | None = None,
               last_event_id: str | None = None,
               on_open: Callable[[], object] | None = None) -> Iterator[SseEvent]:
        """Follow an SSE route until the server ends it; comments (keep-alives) are skipped.

        ``on_open`` runs once the server has answered, before the first message.
        """
        headers = {"accept": "text/event-stream"}
        if last_event_id:
            headers["last-event-id"] = last_event_id
        timeout = httpx.Timeout(10.0, read=None)
        try:
            with self._http.stream("GET", path, params=params, headers=headers,
                                   timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise api_error(response)
                if on_open is not None:
                    on_open()
                yield from parse_sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._down(exc) from None

    def _down(self, exc: Exception) -> DaemonDownError:
        if isinstance(exc, httpx.ConnectError):
            return DaemonDownError(
                f"no aman daemon is running at {self.base_url}",
                "start one with `aman run` (or point at it with --url / AMAN_URL)")
        return DaemonDownError(f"the daemon at {self.base_url} did not answer: {exc}",
                               "check it with `aman status`; its log is in <runtime.dir>/logs")


def api_error(response: httpx.Response) -> ApiError:
    """The daemon's error body as an ``ApiError``; a non-JSON answer keeps its status and text."""
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, str(error.get("code", "error")),
                        str(error.get("message", response.reason_phrase)), error.get("hint"))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        return ApiError(response.status_code, "http_error",
                        f"{response.request.url.path} answered {response.status_code}"
                        + (f": {text}" if text else ""), None)


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Turn SSE lines into messages (data lines joined, JSON decoded when it parses)."""
    event: str | None = None
    data: list[str] = []
    event_id: str | None = None
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    decoded: Any = json.loads(text)
                except ValueError:
                    decoded = text
                yield SseEvent(event, decoded, event_id)
            event, data, event_id = None, [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
