"""Explore through the real daemon: a feed served from this process, the scripted provider
scoring (one answer unusable) and summarising, the session ending with the digest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.explore.samples import FeedServer, rss_with
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

#: Four items: two good scores, one unusable answer, one low score; then two summaries, a digest.
REPLIES = [
    '{"relevance": 9, "quality": 9, "timeliness": 8}',
    "Sorry, I cannot score this one.",
    '```json\n{"relevance": 8, "quality": 7, "timeliness": 7, "reason": "solid"}\n```',
    '{"relevance": 2, "quality": 3, "timeliness": 4}',
    "Item 1 explains the first thing.",
    "Item 3 explains the third thing.",
    "DIGEST: items 1 and 3 are worth your time.",
]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    server.serve("/feed.xml", rss_with(4))
    yield server
    server.close()


def explore_daemon(start_daemon: StartDaemon, feeds: FeedServer) -> Daemon:
    return start_daemon(extra_config={
        "llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted",
                                                             "replies": REPLIES}}},
        "info_hub": {"sources": [{"name": "local", "url": feeds.base + "/feed.xml"}],
                     "min_score": 20, "max_items": 10},
    })


def recent(daemon: Daemon) -> list[dict[str, Any]]:
    response = daemon.client.get("/events/recent", params={"limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_explore_over_a_served_feed_posts_its_summary(start_daemon: StartDaemon,
                                                      feeds: FeedServer) -> None:
    daemon = explore_daemon(start_daemon, feeds)
    response = daemon.client.post("/explore/start", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "local" and body["url"] == feeds.base + "/feed.xml"
    session_id = body["session_id"]

    def digested() -> dict[str, Any] | None:
        state = daemon.client.get(f"/chat/session/{session_id}/state").json()
        last = state["messages"][-1]["content"] if state["messages"] else ""
        return state if last.startswith("## Explore digest") else None

    state = wait_for_sync(digested, 15, what="the explore digest")
    contents = [m["content"] for m in state["messages"]]
    assert len(contents) == 5  # fetched, scored, two summaries, digest
    assert "4 item(s)" in contents[0]
    assert "Scored 3 of 4" in contents[1] and "1 skipped" in contents[1]
    assert "Item 1 explains" in contents[2] and "Item 3 explains" in contents[3]
    assert "DIGEST: items 1 and 3" in contents[4]
    assert "4 read, 3 scored, 1 skipped, 2 kept" in contents[4]
    assert feeds.hits == ["/feed.xml"]

    def finished_stored() -> list[dict[str, Any]]:
        events = recent(daemon)
        return events if any(e["event_type"] == "explore:finished" for e in events) else []

    events = wait_for_sync(finished_stored, what="explore:finished")
    finished = [e for e in events if e["event_type"] == "explore:finished"]
    assert finished[0]["payload"]["skipped"] == 1 and finished[0]["payload"]["kept"] == 2
    posts = sorted((e for e in events if e["event_type"] == "agent:reply_ready"
                    and e["payload"].get("session_id") == session_id), key=lambda e: e["seq"])
    assert [p["payload"]["step"] for p in posts] == ["fetched", "scored", "summary", "summary",
                                                     "digest"]
    assert [p["payload"]["progress"] for p in posts] == [
        {"done": 0, "total": 4}, {"done": 4, "total": 4}, {"done": 1, "total": 2},
        {"done": 2, "total": 2}, {"done": 2, "total": 2}]
    assert all(p["payload"]["skipped"] == 1 for p in posts[1:])


def test_explore_without_sources_is_400(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    response = daemon.client.post("/explore/start", json={"agent_key": "aman"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_sources" and "info_hub.sources" in error["hint"]
