"""Real feeds in the three formats explore reads, and a tiny HTTP server that serves them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RSS = (b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>Example News</title>
    <link>https://news.example.org/</link>
    <description>Things that happened</description>
    <item>
      <title>Rust 2.0 &amp; the borrow checker</title>
      <link>https://news.example.org/rust-2</link>
      <description>&lt;p&gt;A &lt;b&gt;new&lt;/b&gt; edition&lt;br/&gt;was released.&lt;/p&gt;"""
    b"""&lt;script&gt;x()&lt;/script&gt;</description>
      <pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate>
      <guid>https://news.example.org/rust-2</guid>
    </item>
    <item>
      <title>Local bakery wins award</title>
      <link>https://news.example.org/bakery</link>
      <description>The best bread in town.</description>
      <pubDate>Mon, 30 Nov 2026 08:30:00 +0100</pubDate>
    </item>
    <item>
      <title>Python 3.15 beta</title>
      <link>https://news.example.org/python</link>
      <content:encoded><![CDATA[<p>Free-threaded by default &mdash; maybe.</p>]]></content:encoded>
    </item>
  </channel>
</rss>
""")

ATOM = (b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example Blog</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-12-01T12:00:00Z</updated>
  <link href="https://blog.example.org/"/>
  <entry>
    <title type="html">Shipping &lt;em&gt;faster&lt;/em&gt;</title>
    <link href="https://blog.example.org/faster"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <published>2026-12-01T09:00:00+02:00</published>
    <updated>2026-12-01T11:00:00+02:00</updated>
    <summary type="html">&lt;p&gt;How we cut our build time in half.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Relative links</title>
    <link href="/relative"/>
    <id>urn:uuid:2225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2026-11-29T00:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">"""
    b"""<p>Body <b>text</b>.</p></div></content>
  </entry>
</feed>
""")

JSON_FEED: dict[str, Any] = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Example JSON",
    "home_page_url": "https://json.example.org/",
    "items": [
        {"id": "1", "url": "https://json.example.org/one", "title": "One",
         "content_text": "Plain text content.", "date_published": "2026-12-01T10:00:00Z"},
        {"id": "2", "url": "https://json.example.org/two", "title": "Two",
         "content_html": "<p>HTML <i>content</i> &amp; more</p>",
         "date_published": "2026-11-30T10:00:00-05:00"},
        {"id": "3", "summary": "No title, only a summary that is long enough to name it.",
         "external_url": "https://elsewhere.example.org/three"},
    ],
}


def rss_with(count: int) -> bytes:
    """An RSS 2.0 feed of ``count`` items titled ``Item 1`` ... ``Item n``."""
    items = "".join(
        f"<item><title>Item {i}</title><link>https://feed.example.org/{i}</link>"
        f"<description>About item {i}.</description>"
        f"<pubDate>Tue, 01 Dec 2026 {i % 24:02d}:00:00 GMT</pubDate></item>"
        for i in range(1, count + 1))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>'
            f"<link>https://feed.example.org/</link><description>d</description>{items}"
            f"</channel></rss>").encode()


class FeedServer:
    """Serves ``routes`` (path → (status, content type, body)) on 127.0.0.1 in a thread."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes]] | None = None) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = dict(routes or {})
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.hits.append(self.path)
                status, kind, body = server.routes.get(self.path, (404, "text/plain", b"nope"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, path: str, body: bytes | dict[str, Any], kind: str | None = None,
              status: int = 200) -> str:
        """Serve ``body`` at ``path``; its full URL."""
        if isinstance(body, dict):
            body, kind = json.dumps(body).encode(), kind or "application/feed+json"
        self.routes[path] = (status, kind or "application/rss+xml", body)
        return self.base + path

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
