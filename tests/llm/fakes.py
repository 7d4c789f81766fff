"""Real HTTP servers that speak OpenAI Chat Completions and the Anthropic Messages API.

They run on a background thread (``with FakeOpenAIServer() as server:`` or ``start()``/``stop()``),
so both in-process tests and a real daemon process (e2e) can reach them. Replies are scripted:
``server.script(Reply(...), ...)`` queues replies for the next requests, then ``server.default``
answers (by default echoing the last user message). A ``Reply`` can be slow to its first token,
fail with a status (429 with ``Retry-After``, 500, ...) or drop the connection mid-stream.

The SSE here is written by hand on purpose: it is the server side of the protocol; aman's clients
use the official SDKs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    text: str | None = None  # None: "You said: <last user message>"
    chunks: list[str] | None = None  # how the text is streamed (default: word by word)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = "scripted failure"
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    drop_after: int | None = None  # close the connection after this many text chunks
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None  # (input, output); default: word counts
    #: Tool calls ``(id, name, arguments JSON)``, streamed with the JSON split in two deltas
    #: (OpenAI ``tool_calls`` deltas; Anthropic ``tool_use`` blocks with ``input_json_delta``).
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)


def fail(status: int, *, retry_after: float | None = None,
         error: str = "scripted failure") -> Reply:
    """A reply that is an HTTP error (``Retry-After`` set when given)."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return Reply(status=status, headers=headers, error=error)


def answer_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
                headers: dict[str, str] | None = None) -> None:
    """Write ``payload`` as a JSON response with ``status`` and extra ``headers``."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeServer:
    """Thread, scripting and request log shared by both fakes."""

    models = ["fake-model"]
    completions_path = ""

    def __init__(self) -> None:
        self.default = Reply()
        self.models_reply: Reply | None = None  # a failing /models answer (probes)
        self.requests: list[Seen] = []
        self.disconnects = 0  # streams the client closed before the end
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next completion requests with ``replies``, in order."""
        with self._lock:
            self._script.extend(replies)

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    @property
    def completions(self) -> list[Seen]:
        """The completion requests received so far."""
        return [r for r in self.requests if r.path.endswith(self.completions_path)]

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._httpd is not None, "start() the server first"
        return int(self._httpd.server_address[1])

    def start(self) -> FakeServer:
        """Bind a free port on 127.0.0.1 and serve on a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        self.requests.append(Seen(method, handler.path, headers, body, time.time()))
        path = handler.path.split("?")[0]
        if method == "GET" and path.endswith("/models"):
            reply = self.models_reply
            if reply is not None and reply.status != 200:
                return self._error(handler, reply)
            return self._json(handler, 200, self.models_body())
        if method == "POST" and path.endswith(self.completions_path):
            reply = self._next()
            if reply.status != 200:
                return self._error(handler, reply)
            text = reply.text if reply.text is not None else f"You said: {last_user(body)}"
            chunks = reply.chunks or _words(text)
            if body.get("stream"):
                return self._stream(handler, reply, body, chunks)
            return self._json(handler, 200, self.message_body(reply, body, chunks))
        self._json(handler, 404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        answer_json(handler, status, payload, headers)

    def _error(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        self._json(handler, reply.status, self.error_body(reply), reply.headers)

    def _stream(self, handler: BaseHTTPRequestHandler, reply: Reply, body: dict[str, Any],
                chunks: list[str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        handler.wfile.flush()
        try:
            if reply.first_token_delay:
                time.sleep(reply.first_token_delay)
            sent = 0
            for kind, event in self.stream_events(reply, body, chunks):
                if kind == "text":
                    if reply.drop_after is not None and sent >= reply.drop_after:
                        handler.wfile.flush()
                        handler.connection.shutdown(socket.SHUT_RDWR)  # mid-stream drop
                        handler.close_connection = True
                        return
                    if sent and reply.token_delay:
                        time.sleep(reply.token_delay)
                    sent += 1
                payload = event.encode()
                handler.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.disconnects += 1
            handler.close_connection = True

    # --- protocol (subclasses) -------------------------------------------------------------

    def models_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, reply: Reply) -> dict[str, Any]:
        raise NotImplementedError

    def message_body(self, reply: Reply, body: dict[str, Any], chunks: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def stream_events(self, reply: Reply, body: dict[str, Any],
                      chunks: list[str]) -> Iterator[tuple[str, str]]:
        """("text" | "meta", one SSE event) in order."""
        raise NotImplementedError


def last_user(body: dict[str, Any]) -> str:
    """The last user message's text in a request body."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def _usage(reply: Reply, body: dict[str, Any], chunks: list[str]) -> tuple[int, int]:
    if reply.usage is not None:
        return reply.usage
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return prompt, len(chunks)


class FakeOpenAIServer(FakeServer):
    """OpenAI Chat Completions: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``."""

    completions_path = "/chat/completions"

    @property
    def url(self) -> str:
        """The ``base_url`` for the openai SDK."""
        return f"http://127.0.0.1:{self.port}/v1"

    def models_body(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                            "owned_by": "fake"} for m in self.models]}

    def error_body(self, reply: Reply) -> dict[str, Any]:
        kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
        return {"error": {"message": reply.error, "type": kind, "code": kind}}

    def message_body(self, reply: Reply, body: dict[str, Any], chunks: list[str]) -> dict[str, Any]:
        prompt, completion = _usage(reply, body, chunks)
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                         "message": {"role": "assistant", "content": "".join(chunks)}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }

    def stream_events(self, reply: Reply, body: dict[str, Any],
                      chunks: list[str]) -> Iterator[tuple[str, str]]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "fake-model")}

        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n"

        yield "meta", event([{"index": 0, "delta": {"role": "assistant", "content": ""},
                              "finish_reason": None}])
        for chunk in chunks:
            yield "text", event([{"index": 0, "delta": {"content": chunk}, "finish_reason": None}])
        for index, (call_id, name, args) in enumerate(reply.tool_calls):
            half = len(args) // 2
            for part in ({"index": index, "id": call_id, "type": "function",
                          "function": {"name": name, "arguments": args[:half]}},
                         {"index": index, "function": {"arguments": args[half:]}}):
                yield "meta", event([{"index": 0, "delta": {"tool_calls": [part]},
                                      "finish_reason": None}])
        yield "meta", event([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion = _usage(reply, body, chunks)
            yield "meta", event([], usage={"prompt_tokens": prompt,
                                           "completion_tokens": completion,
                                           "total_tokens": prompt + completion})
        yield "meta", "data: [DONE]\n\n"


class FakeAnthropicServer(FakeServer):
    """Anthropic Messages: ``POST /v1/messages`` (JSON or streaming events), ``GET /v1/models``."""

    completions_path = "/messages"
    _STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

    @property
    def url(self) -> str:
        """The ``base_url`` for the anthropic SDK."""
        return f"http://127.0.0.1:{self.port}"

    def models_body(self) -> dict[str, Any]:
        data = [{"id": m, "type": "model", "display_name": m,
                 "created_at": "2025-01-01T00:00:00Z"} for m in self.models]
        return {"data": data, "has_more": False, "first_id": self.models[0],
                "last_id": self.models[-1]}

    def error_body(self, reply: Reply) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.error}}

    def message_body(self, reply: Reply, body: dict[str, Any], chunks: list[str]) -> dict[str, Any]:
        prompt, completion = _usage(reply, body, chunks)
        return {"id": "msg_fake", "type": "message", "role": "assistant",
                "model": body.get("model", "fake-model"),
                "content": [{"type": "text", "text": "".join(chunks)}],
                "stop_reason": self._STOP.get(reply.finish_reason, reply.finish_reason),
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion}}

    def stream_events(self, reply: Reply, body: dict[str, Any],
                      chunks: list[str]) -> Iterator[tuple[str, str]]:
        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        prompt, completion = _usage(reply, body, chunks)
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                   "model": body.get("model", "fake-model"), "stop_reason": None,
                   "stop_sequence": None, "usage": {"input_tokens": prompt, "output_tokens": 1}}
        yield "meta", event("message_start", {"message": message})
        yield "meta", event("content_block_start",
                            {"index": 0, "content_block": {"type": "text", "text": ""}})
        yield "meta", event("ping", {})
        for chunk in chunks:
            yield "text", event("content_block_delta",
                                {"index": 0, "delta": {"type": "text_delta", "text": chunk}})
        yield "meta", event("content_block_stop", {"index": 0})
        for index, (call_id, name, args) in enumerate(reply.tool_calls, start=1):
            yield "meta", event("content_block_start", {"index": index, "content_block": {
                "type": "tool_use", "id": call_id, "name": name, "input": {}}})
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                yield "meta", event("content_block_delta", {"index": index, "delta": {
                    "type": "input_json_delta", "partial_json": part}})
            yield "meta", event("content_block_stop", {"index": index})
        stop = self._STOP.get(reply.finish_reason, reply.finish_reason)
        yield "meta", event("message_delta", {"delta": {"stop_reason": stop,
                                                         "stop_sequence": None},
                                               "usage": {"output_tokens": completion}})
        yield "meta", event("message_stop", {})
