"""The http and web_fetch tools against a local HTTP server started by the test."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from aman.tools.builtin.web import (
    HttpParams,
    WebFetchParams,
    html_to_text,
    http_tool,
    web_fetch_tool,
)
from aman.tools.model import (
    CallBlocked,
    Sensitivity,
    Tool,
    ToolContext,
    ToolFailedError,
    ToolOutput,
)

PAGE = """<!doctype html><html><head><title>The  Page</title>
<style>body { color: red }</style><script>alert("no")</script></head>
<body><nav><a href="/">Home</a></nav><h1>Main title</h1>
<p>First paragraph with <a href="/more">a link</a>.</p>
<p>Second
   paragraph &amp; more.</p><ul><li>one</li><li>two</li></ul>
<noscript>enable js</noscript></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str | None,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, bytes, str | None, dict[str, str]]] = {
            "/json": (200, b'{"ok": true}', "application/json", {"X-Test": "yes"}),
            "/big": (200, b"a" * 10_000, "text/plain; charset=utf-8", {}),
            "/bin": (200, bytes(range(256)) * 4, "image/png", {}),
            "/page": (200, PAGE.encode(), "text/html; charset=utf-8", {}),
            "/plain": (200, b"  just\n\n\n text  ", "text/plain", {}),
            "/redirect": (302, b"", None, {"Location": "/page"}),
            "/host": (200, str(self.headers.get("Host")).encode(), "text/plain", {}),
            "/missing": (404, b"nope", "text/plain", {}),
        }
        if self.path.startswith("/to?"):  # redirect to the URL in the query
            routes[self.path] = (302, b"", None, {"Location": self.path[4:]})
        if self.path == "/slow":
            time.sleep(1)
        self._send(*routes.get(self.path, (200, b"slow", "text/plain", {})))

    do_HEAD = do_GET

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        echo = {"method": self.command, "body": body, "type": self.headers.get("Content-Type"),
                "x": self.headers.get("X-Custom")}
        self._send(201, json.dumps(echo).encode(), "application/json")

    do_POST = do_PUT = do_PATCH = do_DELETE = _echo


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the timeout test hangs up before /slow answers


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def context(**overrides: Any) -> ToolContext:
    """A context whose network rules let the tools reach the test's own server on loopback."""
    return ToolContext(call_id="http-1", **{"network_allow": ("127.0.0.1",), **overrides})


async def run(tool: Tool, ctx: ToolContext | None = None, **params: Any) -> ToolOutput:
    return await tool.handler(tool.params.model_validate(params), ctx or context())


def test_sensitivities_and_schemas() -> None:
    assert http_tool().sensitivity is Sensitivity.MEDIUM
    assert web_fetch_tool().sensitivity is Sensitivity.LOW
    assert {"method", "url", "headers", "body", "json", "follow_redirects"} <= set(
        http_tool().schema()["properties"])


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "example.com",
                                 "http://"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        HttpParams.model_validate({"url": url})
    with pytest.raises(ValidationError, match="http"):
        WebFetchParams.model_validate({"url": url})


def test_body_and_json_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="not both"):
        HttpParams.model_validate({"url": "http://x", "body": "a", "json": {"a": 1}})


async def test_http_get_returns_status_headers_and_body(server: str) -> None:
    result = await run(http_tool(), url=f"{server}/json")
    assert result.output["status"] == 200
    assert result.output["headers"]["x-test"] == "yes"
    assert json.loads(result.output["body"]) == {"ok": True}
    assert result.truncated is False


async def test_http_sends_body_json_and_headers(server: str) -> None:
    posted = await run(http_tool(), method="POST", url=f"{server}/echo", body="raw text",
                       headers={"X-Custom": "1", "Content-Type": "text/plain"})
    assert posted.output["status"] == 201
    assert json.loads(posted.output["body"]) == {
        "method": "POST", "body": "raw text", "type": "text/plain", "x": "1"}
    put = await run(http_tool(), method="PUT", url=f"{server}/echo", json={"a": [1, 2]})
    echo = json.loads(put.output["body"])
    assert echo["method"] == "PUT" and json.loads(echo["body"]) == {"a": [1, 2]}
    assert echo["type"] == "application/json"


async def test_http_head_has_an_empty_body(server: str) -> None:
    result = await run(http_tool(), method="HEAD", url=f"{server}/json")
    assert result.output["status"] == 200 and result.output["body"] == ""


async def test_http_body_is_capped_with_a_note(server: str) -> None:
    result = await run(http_tool(), context(max_output_bytes=1000), url=f"{server}/big")
    assert result.truncated is True
    assert result.output["body"].startswith("a" * 1000)
    note = "[output truncated: body of 10000 bytes, showing the first 1000]"
    assert note in result.output["body"]


async def test_http_binary_body_is_described_not_returned(server: str) -> None:
    result = await run(http_tool(), url=f"{server}/bin")
    assert result.output["body"] == "[binary body: 1024 bytes, image/png]"


async def test_http_does_not_follow_redirects_unless_asked(server: str) -> None:
    plain = await run(http_tool(), url=f"{server}/redirect")
    assert plain.output["status"] == 302 and plain.output["headers"]["location"] == "/page"
    followed = await run(http_tool(), url=f"{server}/redirect", follow_redirects=True)
    assert followed.output["status"] == 200 and followed.output["url"].endswith("/page")


async def test_http_error_statuses_are_output(server: str) -> None:
    result = await run(http_tool(), url=f"{server}/missing")
    assert result.output["status"] == 404 and result.output["body"] == "nope"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_a_tool_failure() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    with pytest.raises(ToolFailedError, match="could not connect"):
        await run(http_tool(), url=url)
    with pytest.raises(ToolFailedError, match="could not connect"):
        await run(web_fetch_tool(), url=url)


async def test_a_slow_server_times_out(server: str) -> None:
    with pytest.raises(ToolFailedError, match="timed out after 0.2 s"):
        await run(http_tool(), url=f"{server}/slow", timeout_sec=0.2)


async def test_web_fetch_turns_html_into_readable_text(server: str) -> None:
    result = await run(web_fetch_tool(), url=f"{server}/redirect")
    out = result.output
    assert out["url"].endswith("/page") and out["title"] == "The Page"
    assert out["text"] == ("Home\n\n# Main title\n\nFirst paragraph with a link.\n\n"
                           "Second paragraph & more.\n\n- one\n- two")


async def test_web_fetch_passes_plain_text_through(server: str) -> None:
    result = await run(web_fetch_tool(), url=f"{server}/plain")
    assert result.output["text"] == "  just\n\n\n text  " and result.output["title"] == ""


async def test_web_fetch_caps_to_max_chars(server: str) -> None:
    result = await run(web_fetch_tool(), url=f"{server}/big", max_chars=100)
    assert result.truncated is True
    assert result.output["text"].startswith("a" * 100 + "\n[text truncated: 10000 characters")


async def test_web_fetch_refuses_errors_and_binary(server: str) -> None:
    with pytest.raises(ToolFailedError, match="404"):
        await run(web_fetch_tool(), url=f"{server}/missing")
    with pytest.raises(ToolFailedError, match="not text"):
        await run(web_fetch_tool(), url=f"{server}/bin")


def test_html_to_text_keeps_preformatted_text() -> None:
    text, title = html_to_text("<p>a</p><pre>def f():\n    return 1</pre><p>b<br>c</p>")
    assert text == "a\n\ndef f():\n    return 1\n\nb\nc" and title == ""


# --- what the web tools may reach ---------------------------------------------------------------


@pytest.mark.parametrize("tool", [http_tool, web_fetch_tool])
@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "[::1]", "localhost"])
async def test_inside_addresses_are_refused_by_default(server: str, tool: Any, host: str) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(CallBlocked) as caught:
        await run(tool(), context(network_allow=()), url=f"http://{host}:{port}/json")
    assert caught.value.rule == "internal_address" and "loopback" in caught.value.reason


async def test_every_redirect_is_checked(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    allowed = context(network_allow=("localhost",))  # the name, not its addresses
    target = f"http://127.0.0.1:{port}/page"
    first = await run(http_tool(), allowed, url=f"http://localhost:{port}/to?{target}")
    assert first.output["status"] == 302  # not followed: nothing else was reached
    with pytest.raises(CallBlocked, match="127.0.0.1"):
        await run(http_tool(), allowed, url=f"http://localhost:{port}/to?{target}",
                  follow_redirects=True)
    with pytest.raises(CallBlocked, match="127.0.0.1"):
        await run(web_fetch_tool(), allowed, url=f"http://localhost:{port}/to?{target}")


async def test_the_connection_goes_to_the_checked_address(server: str) -> None:
    import httpx

    from aman.tools.addresses import NetworkPolicy
    from aman.tools.builtin.pinned import PinnedTransport

    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]  # a name no real resolver knows: reaching it proves the pinning

    port = server.rsplit(":", 1)[1]
    transport = PinnedTransport(NetworkPolicy.parse(["127.0.0.0/8"]), resolve)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        response = await client.get(f"http://only-checked.invalid:{port}/host")
    assert response.text == f"only-checked.invalid:{port}"  # the Host header keeps the name
    assert str(response.url) == f"http://only-checked.invalid:{port}/host"
    assert asked == ["only-checked.invalid"]
    with pytest.raises(CallBlocked):
        async with httpx.AsyncClient(transport=PinnedTransport(NetworkPolicy(), resolve)) as c:
            await c.get(f"http://only-checked.invalid:{port}/host")
