"""Fetch a feed over HTTP and normalise its items: RSS and Atom through feedparser, JSON Feed here.

feedparser (imported on first use) reads every RSS and Atom dialect and tolerates the broken
markup real feeds carry, but it does not read JSON Feed, which is plain JSON (``items[]`` with
``title``, ``url``, ``content_text`` / ``content_html`` / ``summary``, ``date_published``), so that
format is handled here. Every item comes out the same: title, link, plain-text summary and an
ISO 8601 UTC published time when the feed gives one.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from aman.errors import UnprocessableError

#: Feeds larger than this are refused rather than parsed (a feed is a few hundred KB at most;
#: a URL that serves something huge is not a feed).
MAX_FEED_BYTES = 5 * 1024 * 1024
#: Longest summary kept per item: enough for the model to judge it, short enough for the prompt.
MAX_SUMMARY_CHARS = 1500
_SPACE = re.compile(r"\s+")
_BLOCK_TAGS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                         "blockquote", "pre"})


class FeedError(UnprocessableError):
    """A feed could not be fetched or read; the message names the URL and the reason."""

    code = "feed_unreadable"
    hint = ("Check the source's url under info_hub.sources: it must answer 200 with RSS, Atom "
            "or JSON Feed.")


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, normalised."""

    title: str
    link: str
    summary: str
    published: str | None  # ISO 8601 UTC, or None when the feed gives no date

    def to_json(self) -> dict[str, Any]:
        """Wire shape (event payloads, tests)."""
        return {"title": self.title, "link": self.link, "summary": self.summary,
                "published": self.published}


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its title, its format and its first items."""

    title: str
    format: str  # rss20, atom10, ... as feedparser names them, or json1 / json1.1
    items: tuple[FeedItem, ...]


async def fetch_feed(url: str, *, timeout_sec: float) -> tuple[bytes, str]:
    """Download ``url``: its body and content type; ``FeedError`` on any failure."""
    import httpx  # only explore downloads feeds; keep it off the boot path

    headers = {"Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                         "application/json;q=0.9, application/xml;q=0.8, */*;q=0.5",
               "User-Agent": "aman-explore"}
    try:
        async with httpx.AsyncClient(timeout=timeout_sec, follow_redirects=True,
                                     headers=headers) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FeedError(f"feed {url} answered HTTP {response.status_code}",
                                    details={"url": url, "status": response.status_code})
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_FEED_BYTES:
                        raise FeedError(f"feed {url} is larger than {MAX_FEED_BYTES} bytes",
                                        details={"url": url})
                return bytes(body), response.headers.get("content-type", "")
    except httpx.TimeoutException:
        raise FeedError(f"feed {url} did not answer within {timeout_sec:g}s "
                        "(info_hub.fetch_timeout_sec)", details={"url": url}) from None
    except httpx.HTTPError as exc:
        raise FeedError(f"feed {url} could not be fetched: {type(exc).__name__}: {exc}",
                        details={"url": url}) from None


def parse_feed(body: bytes, *, url: str, content_type: str = "",
               max_items: int = 20) -> Feed:
    """Parse RSS, Atom or JSON Feed into at most ``max_items`` items; else ``FeedError``."""
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, url=url, max_items=max_items)
    import feedparser  # type: ignore[import-untyped]  # heavy (sgmllib, many regexes): imported when a feed is read

    parsed = feedparser.parse(body, response_headers={"content-location": url,
                                                      "content-type": content_type or "text/xml"})
    if not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        raise FeedError(f"{url} is not an RSS, Atom or JSON feed"
                        + (f" ({type(reason).__name__}: {reason})" if reason else ""),
                        details={"url": url})
    items = tuple(_from_entry(entry) for entry in parsed.entries[:max_items])
    return Feed(title=_text(parsed.feed.get("title", "")), format=str(parsed.version),
                items=items)


def _looks_like_json(body: bytes, content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("application/feed+json", "application/json") or kind.endswith("+json"):
        return True
    return body.lstrip()[:1] == b"{"


def _parse_json_feed(body: bytes, *, url: str, max_items: int) -> Feed:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"{url} is not valid JSON: {exc}", details={"url": url}) from None
    version = data.get("version", "") if isinstance(data, dict) else ""
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(version, str) or "jsonfeed.org" not in version or not isinstance(items, list):
        raise FeedError(f"{url} is JSON but not a JSON Feed (no jsonfeed.org version or items)",
                        details={"url": url})
    found = []
    for item in items[:max_items]:
        if not isinstance(item, dict):
            continue
        text = item.get("content_text") or item.get("summary") or ""
        if not text and item.get("content_html"):
            text = _text(str(item["content_html"]))
        found.append(FeedItem(
            title=_text(str(item.get("title") or "")) or _clip(str(text), 80),
            link=str(item.get("url") or item.get("external_url") or item.get("id") or ""),
            summary=_clip(_text(str(text)), MAX_SUMMARY_CHARS),
            published=_iso(item.get("date_published") or item.get("date_modified"))))
    return Feed(title=str(data.get("title") or ""), format=f"json{version.rsplit('/', 1)[-1]}",
                items=tuple(found))


def _from_entry(entry: Any) -> FeedItem:
    """One feedparser entry (RSS item or Atom entry)."""
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    when = entry.get("published_parsed") or entry.get("updated_parsed")
    published = (datetime.fromtimestamp(calendar.timegm(when), UTC).isoformat()
                 if when else None)
    return FeedItem(title=_text(entry.get("title", "")), link=str(entry.get("link", "")),
                    summary=_clip(_text(summary), MAX_SUMMARY_CHARS), published=published)


def _iso(value: object) -> str | None:
    """An RFC 3339 date as ISO 8601 UTC; unreadable dates are dropped, not guessed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _text(html: str) -> str:
    """``html`` as plain text on one line (tags dropped, entities decoded, spaces collapsed)."""
    if "<" not in html and "&" not in html:
        return _SPACE.sub(" ", html).strip()
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return _SPACE.sub(" ", "".join(parser.parts)).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
