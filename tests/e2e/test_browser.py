"""A page on another origin uses the real daemon from a real Chromium: CORS for the allowed
origin (fetch, a bearer-token JSON POST with its preflight, EventSource), nothing for another
origin, and the Host check refusing a rebinding domain. Every address is on loopback; the
rebinding domain is mapped to 127.0.0.1 inside the browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import TEST_TOKEN, Daemon, StartDaemon

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
REBIND_HOST = "rebind.test"


class _Page(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b"<!doctype html><title>frontend</title><p>frontend</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def frontend() -> Iterator[int]:
    """A page server on its own port: another origin than the daemon's."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium' "
                    "(scripts/test does this when run as root)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[f"--host-resolver-rules=MAP {REBIND_HOST} 127.0.0.1"])
        try:
            yield launched
        finally:
            launched.close()


FETCHES = """async ([base, token]) => {
  const health = await fetch(base + '/health');
  const pushed = await fetch(base + '/events/push', {
    method: 'POST',
    headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'},
    body: JSON.stringify({source: 'browser:test', event_type: 'browser_ping',
                          payload: {n: 1}})});
  return {health: health.status, healthBody: await health.json(),
          requestId: health.headers.get('x-request-id'), pushed: pushed.status,
          pushedBody: await pushed.json()};
}"""

EVENT_SOURCE = """([base, token]) => new Promise((resolve, reject) => {
  const stream = new EventSource(base + '/events/stream?token=' + token);
  const timer = setTimeout(() => { stream.close(); reject(new Error('no event')); }, 20000);
  stream.addEventListener('event:processed', (message) => {
    const event = JSON.parse(message.data);
    if (event.source === 'browser:stream') {
      clearTimeout(timer); stream.close(); resolve(event);
    }
  });
  stream.onopen = () => fetch(base + '/events/push', {
    method: 'POST',
    headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'},
    body: JSON.stringify({source: 'browser:stream', event_type: 'browser_ping',
                          payload: {n: 2}})});
})"""

BLOCKED = """async (base) => {
  try { await fetch(base + '/health'); return 'read'; }
  catch (error) { return 'blocked: ' + error.name; }
}"""


def test_a_page_on_an_allowed_origin_uses_the_daemon(start_daemon: StartDaemon, frontend: int,
                                                     browser: Any) -> None:
    origin = f"http://127.0.0.1:{frontend}"
    daemon = start_daemon(token=TEST_TOKEN,
                          extra_config={"http": {"cors": {"allow_origins": [origin]}}})
    page = browser.new_page()
    page.goto(f"{origin}/index.html")
    result = page.evaluate(FETCHES, [daemon.base_url, TEST_TOKEN])
    assert result["health"] == 200 and result["healthBody"]["status"] == "ready", result
    assert result["requestId"]  # exposed to the page
    assert result["pushed"] == 202, result
    event = page.evaluate(EVENT_SOURCE, [daemon.base_url, TEST_TOKEN])
    assert event["event_type"] == "browser_ping" and event["payload"] == {"n": 2}

    # The same page served from another origin (localhost is not 127.0.0.1) may not read.
    other = browser.new_page()
    other.goto(f"http://localhost:{frontend}/index.html")
    assert other.evaluate(BLOCKED, daemon.base_url) == "blocked: TypeError"


def test_a_rebinding_domain_is_refused(start_daemon: StartDaemon, browser: Any) -> None:
    daemon: Daemon = start_daemon()
    page = browser.new_page()
    response = page.goto(f"http://{REBIND_HOST}:{daemon.port}/health")
    assert response is not None and response.status == 403
    assert response.json()["error"]["code"] == "host_not_allowed"
    # Called by its address or localhost, the daemon answers.
    assert page.goto(f"http://127.0.0.1:{daemon.port}/health").status == 200
    assert page.goto(f"http://localhost:{daemon.port}/health").status == 200
