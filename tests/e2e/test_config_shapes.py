"""Config shapes users write, accepted by the real daemon: two feeds from one site given as bare
URLs, and a content-policy rule without a name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.daemons import StartDaemon
from tests.explore.samples import FeedServer, rss_with

pytestmark = pytest.mark.e2e


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    server.serve("/blog/posts.xml", rss_with(2))
    server.serve("/blog/comments.xml", rss_with(2))
    yield server
    server.close()


def test_two_feeds_of_one_site_and_an_unnamed_policy_rule(start_daemon: StartDaemon,
                                                          feeds: FeedServer) -> None:
    posts, comments = feeds.base + "/blog/posts.xml", feeds.base + "/blog/comments.xml"
    daemon = start_daemon(extra_config={
        "llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted",
                                                             "replies": ["ok"]}}},
        "info_hub": {"sources": [posts, comments]},
        "chat": {"content_policy": [{"pattern": r"pass(word)?\s*[:=]", "action": "block"}]},
    })
    # Both feeds are sources, each with its own name; either is started by its URL or its name.
    by_url = daemon.client.post("/explore/start", json={"source": comments})
    assert by_url.status_code == 200, by_url.text
    assert by_url.json()["url"] == comments
    name = by_url.json()["source"]
    assert name == "127.0.0.1-blog-comments.xml"
    by_name = daemon.client.post("/explore/start", json={"source": "127.0.0.1-blog-posts.xml"})
    assert by_name.status_code == 200, by_name.text
    assert by_name.json()["url"] == posts
    unknown = daemon.client.post("/explore/start", json={"source": feeds.base + "/other.xml"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "source_not_found"

    # The unnamed rule is in force and is called by its pattern.
    session = daemon.client.post("/chat/session/create", json={}).json()["id"]
    refused = daemon.client.post(f"/chat/session/{session}/send",
                                 json={"text": "my password: hunter2"})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "message_blocked"
    assert "content policy rule 'pass(word)?" in error["message"]
