"""Fetching and parsing RSS 2.0, Atom and JSON Feed samples, and feeds that fail."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from aman.explore.feeds import FeedError, fetch_feed, parse_feed
from tests.explore.samples import ATOM, JSON_FEED, RSS, FeedServer, rss_with


@pytest.fixture
def server() -> Iterator[FeedServer]:
    served = FeedServer()
    yield served
    served.close()


def test_rss_items_are_normalised() -> None:
    feed = parse_feed(RSS, url="https://news.example.org/feed.xml")
    assert feed.title == "Example News" and feed.format == "rss20"
    first, second, third = feed.items
    assert first.title == "Rust 2.0 & the borrow checker"
    assert first.link == "https://news.example.org/rust-2"
    assert first.summary == "A new edition was released."  # tags and script dropped
    assert first.published == "2026-12-01T10:00:00+00:00"
    assert second.published == "2026-11-30T07:30:00+00:00"  # +0100 moved to UTC
    assert third.summary == "Free-threaded by default — maybe." and third.published is None


def test_atom_entries_are_normalised() -> None:
    feed = parse_feed(ATOM, url="https://blog.example.org/atom.xml")
    assert feed.title == "Example Blog" and feed.format == "atom10"
    faster, relative = feed.items
    assert faster.title == "Shipping faster"
    assert faster.summary == "How we cut our build time in half."
    assert faster.published == "2026-12-01T07:00:00+00:00"  # published wins over updated
    assert relative.link == "https://blog.example.org/relative"  # resolved against the feed URL
    assert relative.summary == "Body text."
    assert relative.published == "2026-11-29T00:00:00+00:00"  # no published: updated


def test_json_feed_items_are_normalised() -> None:
    feed = parse_feed(json.dumps(JSON_FEED).encode(), url="https://json.example.org/feed.json",
                      content_type="application/feed+json")
    assert feed.title == "Example JSON" and feed.format == "json1.1"
    one, two, three = feed.items
    assert (one.title, one.link, one.summary, one.published) == (
        "One", "https://json.example.org/one", "Plain text content.",
        "2026-12-01T10:00:00+00:00")
    assert two.summary == "HTML content & more"
    assert two.published == "2026-11-30T15:00:00+00:00"
    assert three.title.startswith("No title, only a summary")
    assert three.link == "https://elsewhere.example.org/three" and three.published is None


def test_json_feed_is_recognised_without_a_json_content_type() -> None:
    version_1 = {**JSON_FEED, "version": "https://jsonfeed.org/version/1"}
    feed = parse_feed(json.dumps(version_1).encode(), url="u", content_type="text/plain")
    assert feed.format == "json1" and len(feed.items) == 3


def test_max_items_keeps_the_first_items() -> None:
    feed = parse_feed(rss_with(30), url="u", max_items=5)
    assert [i.title for i in feed.items] == [f"Item {n}" for n in range(1, 6)]


@pytest.mark.parametrize(("body", "kind", "reason"), [
    (b"<html><body>Not a feed</body></html>", "text/html", "is not an RSS, Atom or JSON feed"),
    (b"just words", "text/plain", "is not an RSS, Atom or JSON feed"),
    (b'{"hello": "world"}', "application/json", "not a JSON Feed"),
    (b"{broken", "application/json", "is not valid JSON"),
])
def test_what_is_not_a_feed_is_a_feed_error(body: bytes, kind: str, reason: str) -> None:
    with pytest.raises(FeedError, match=reason) as caught:
        parse_feed(body, url="http://x/feed", content_type=kind)
    assert caught.value.code == "feed_unreadable" and "info_hub.sources" in caught.value.hint


async def test_fetch_returns_the_body_and_content_type(server: FeedServer) -> None:
    url = server.serve("/feed.xml", RSS)
    body, kind = await fetch_feed(url, timeout_sec=5)
    assert body == RSS and kind == "application/rss+xml"


async def test_fetch_failures_name_the_url_and_the_reason(server: FeedServer) -> None:
    missing = server.base + "/missing"
    with pytest.raises(FeedError, match=f"feed {missing} answered HTTP 404"):
        await fetch_feed(missing, timeout_sec=5)
    closed = FeedServer()
    url = closed.base + "/feed"
    closed.close()
    with pytest.raises(FeedError, match="could not be fetched: ConnectError"):
        await fetch_feed(url, timeout_sec=5)
