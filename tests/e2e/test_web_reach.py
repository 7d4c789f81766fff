"""The web tools do not reach inside, through the real daemon. Every target here is on loopback:
the refusals happen before any connection, and the one allowed request goes to this test's own
server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.daemons import StartDaemon
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path[4:])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"inside secret"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def inside() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1]), hits
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_inside_addresses_are_blocked_audited_and_announced(
        start_daemon: StartDaemon, inside: tuple[int, list[str]]) -> None:
    port, hits = inside
    daemon = start_daemon(extra_config={"tools": {"network": {"allow": ["localhost"]}}})
    http = daemon.client
    for tool, url in (("web_fetch", f"http://127.0.0.1:{port}/secret"),
                      ("http", f"http://[::1]:{port}/secret"),
                      ("http", f"http://127.0.0.2:{port}/secret")):
        refused = http.post(f"/tools/{tool}/execute", json={"url": url})
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "tool_blocked" and "loopback" in error["message"]
    assert hits == []  # nothing reached the server

    # An allowed name is reached; a redirect from it to an inside address is refused.
    allowed = http.post("/tools/http/execute", json={"url": f"http://localhost:{port}/ok"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["output"]["body"] == "inside secret"
    target = f"http://127.0.0.1:{port}/secret"
    redirected = http.post("/tools/web_fetch/execute",
                           json={"url": f"http://localhost:{port}/to?{target}"})
    assert redirected.status_code == 403, redirected.text
    assert "127.0.0.1" in redirected.json()["error"]["message"]
    assert hits == ["/ok", f"/to?{target}"]  # the redirect target was never requested

    audit = http.get("/audit-log", params={"action": "tool.blocked"}).json()["items"]
    assert len(audit) == 4 and all(r["outcome"] == "blocked" for r in audit)
    assert {r["detail"]["rule"] for r in audit} == {"internal_address"}

    def denials() -> list[dict[str, Any]]:
        events = http.get("/events/recent", params={"limit": 500}).json()["items"]
        return [e for e in events if e["event_type"] == "tool:security_denied"]

    # Events are published in the background.
    denied = wait_for_sync(lambda: len(found := denials()) >= 4 and found, 15,
                           what="four tool:security_denied events")
    assert len(denied) == 4 and all(e["payload"]["rule"] == "internal_address" for e in denied)
