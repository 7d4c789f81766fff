"""POST /explore/start through a real runtime: a served feed, the scripted provider, the steps
posted to the session as agent:reply_ready with progress, and the ways a run fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from quart import Quart

from aman.config.settings import Settings
from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.model import Event
from tests.chat.helpers import scripted, state_of
from tests.explore.samples import RSS, FeedServer
from tests.helpers import SettingsFactory, runtime_of, wait_for

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

#: Replies in call order for the three-item RSS sample: three scores (the second is prose the
#: pipeline cannot use), one summary for the one item above 20, then the digest.
REPLIES = [
    '```json\n{"relevance": 9, "quality": 8, "timeliness": 9, "reason": "big"}\n```',
    "This one looks nice, I would give it an 8.",
    '{"relevance": 5, "quality": 5, "timeliness": 5}',
    "Rust has a new edition; upgrading is worth it.",
    "Digest: Rust's new edition is the one thing worth reading today.",
]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    server.serve("/news.xml", RSS)
    server.serve("/page.html", b"<html><body>hello</body></html>", "text/html")
    yield server
    server.close()


def sources(feeds: FeedServer) -> list[dict[str, str]]:
    return [{"name": "news", "url": feeds.base + "/news.xml"},
            {"name": "gone", "url": feeds.base + "/missing.xml"},
            {"name": "page", "url": feeds.base + "/page.html"}]


@pytest.fixture
def settings(make_settings: SettingsFactory, feeds: FeedServer) -> Settings:
    return scripted(make_settings, *REPLIES, **{"info_hub.sources": sources(feeds)})


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


def capture(runtime: Runtime) -> list[Event]:
    events: list[Event] = []
    runtime.bus.observe(events.append)
    return events


def explore_posts(events: list[Event], session_id: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.event_type == "agent:reply_ready"
            and e.payload.get("session_id") == session_id and e.payload.get("source") == "explore"]


async def start(client: TestClientProtocol, **body: Any) -> dict[str, Any]:
    response = await client.post("/explore/start", json=body)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return dict(await response.get_json())


async def test_explore_posts_each_step_and_ends_with_the_digest(
        client: TestClientProtocol, runtime: Runtime, feeds: FeedServer) -> None:
    events = capture(runtime)
    started = await start(client, source="news")
    assert started["source"] == "news" and started["url"] == feeds.base + "/news.xml"
    assert started["agent_id"] == "aman"
    session_id = started["session_id"]
    await wait_for(lambda: any(e.event_type == "explore:finished" for e in events))

    posts = explore_posts(events, session_id)
    assert [p["step"] for p in posts] == ["fetched", "scored", "summary", "digest"]
    assert [p["progress"] for p in posts] == [{"done": 0, "total": 3}, {"done": 3, "total": 3},
                                              {"done": 1, "total": 1}, {"done": 1, "total": 1}]
    assert all(p["feed"] == "news" and p["turns_processed"] == 0 for p in posts)
    scored, summary, digest = posts[1], posts[2], posts[3]
    assert (scored["items"], scored["scored"], scored["skipped"], scored["kept"]) == (3, 2, 1, 1)
    assert "1 skipped" in scored["reply"] and "| Rust 2.0 & the borrow checker | 9 | 8 | 9 | 26 |" \
        in scored["reply"]
    assert "Python 3.15 beta" in scored["reply"] and "Local bakery wins award: not a JSON object" \
        in scored["reply"]
    assert summary["link"] == "https://news.example.org/rust-2" and summary["score"] == 26
    assert "Rust has a new edition" in summary["reply"]
    assert REPLIES[-1] in digest["reply"]
    assert "3 read, 2 scored, 1 skipped, 1 kept" in digest["reply"]

    state = await state_of(client, session_id)
    assert state["title"] == "Explore: news" and state["session_type"] == "persistent"
    assert [m["role"] for m in state["messages"]] == ["assistant"] * 4
    assert state["messages"][-1]["content"] == digest["reply"]
    finished = next(e for e in events if e.event_type == "explore:finished")
    assert finished.source == "explore:pipeline"
    assert finished.payload == {"session_id": session_id, "agent_id": "aman", "source": "news",
                                "url": feeds.base + "/news.xml", "items": 3, "scored": 2,
                                "skipped": 1, "kept": 1, "min_score": 20}
    assert any(e.event_type == "explore:started" and e.payload["session_id"] == session_id
               for e in events)
    # Each model call is a registry call tagged with the session and its purpose.
    purposes = [e.payload["purpose"] for e in events if e.event_type == "llm:call_started"
                and e.payload.get("session_id") == session_id]
    assert purposes == ["explore.score"] * 3 + ["explore.summary", "explore.digest"]
    listed = {t["event_type"]: t["owner"] for t in
              (await (await client.get("/events/types")).get_json())["items"]}
    assert listed["explore:failed"] == "explore"


@pytest.mark.parametrize(("source", "stage", "reason"), [
    ("gone", "fetch", "answered HTTP 404"),
    ("page", "parse", "is not an RSS, Atom or JSON feed"),
])
async def test_a_feed_that_cannot_be_read_is_posted_as_a_failure(
        client: TestClientProtocol, runtime: Runtime, source: str, stage: str,
        reason: str) -> None:
    events = capture(runtime)
    session_id = (await start(client, source=source))["session_id"]
    await wait_for(lambda: any(e.event_type == "explore:failed" for e in events))
    failed = next(e for e in events if e.event_type == "explore:failed")
    assert failed.payload["stage"] == stage and failed.payload["error"]["code"] == "feed_unreadable"
    assert reason in failed.payload["error"]["message"]
    await wait_for(lambda: bool(explore_posts(events, session_id)))
    [post] = explore_posts(events, session_id)
    assert post["step"] == "failed" and post["stage"] == stage
    assert f"Explore of {source} failed" in post["reply"] and reason in post["reply"]
    assert "info_hub.sources" in post["reply"]  # the hint says what to fix
    assert not any(e.event_type == "explore:finished" for e in events)


async def test_without_a_source_one_is_picked(client: TestClientProtocol) -> None:
    started = await start(client)
    assert started["source"] in {"news", "gone", "page"}


async def test_unknown_source_is_404_naming_the_known_ones(client: TestClientProtocol) -> None:
    response = await client.post("/explore/start", json={"source": "nope"})
    assert response.status_code == 404
    error = (await response.get_json())["error"]
    assert error["code"] == "source_not_found"
    assert "known: news, gone, page" in error["message"]
    assert error["details"]["known"] == ["news", "gone", "page"]


async def test_unknown_agent_is_400(client: TestClientProtocol) -> None:
    response = await client.post("/explore/start", json={"agent_key": "ghost", "source": "news"})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "agent_unavailable"


async def test_unknown_body_field_is_400(client: TestClientProtocol) -> None:
    response = await client.post("/explore/start", json={"feed": "news"})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "validation_error"


async def test_no_sources_is_400_naming_the_setting(make_settings: SettingsFactory) -> None:
    async with served(scripted(make_settings)) as app:
        response = await app.test_client().post("/explore/start", json={})
        assert response.status_code == 400
        error = (await response.get_json())["error"]
        assert error["code"] == "no_sources" and "info_hub.sources" in error["hint"]
        assert await runtime_of(app).chat.listing(agent_id=None, after=None, limit=5) == ([], None)


async def test_nothing_scored_above_min_score_still_ends_with_a_digest(
        make_settings: SettingsFactory, feeds: FeedServer) -> None:
    low = '{"relevance": 1, "quality": 2, "timeliness": 3}'
    settings = scripted(make_settings, low, **{"info_hub.sources": sources(feeds),
                                               "info_hub.max_items": 2})
    async with served(settings) as app:
        events = capture(runtime_of(app))
        session_id = (await start(app.test_client(), source="news"))["session_id"]
        await wait_for(lambda: any(e.event_type == "explore:finished" for e in events))
        posts = explore_posts(events, session_id)
        assert [p["step"] for p in posts] == ["fetched", "scored", "digest"]
        assert posts[-1]["kept"] == 0 and posts[-1]["items"] == 2
        assert "Nothing scored above 20/30" in posts[-1]["reply"]


async def test_stop_cancels_a_running_exploration(make_settings: SettingsFactory,
                                                  feeds: FeedServer) -> None:
    settings = scripted(make_settings, "{}", first_token_ms=30_000,
                        **{"info_hub.sources": sources(feeds)})
    async with served(settings) as app:
        runtime = runtime_of(app)
        events = capture(runtime)
        session_id = (await start(app.test_client(), source="news"))["session_id"]
        await wait_for(lambda: bool(explore_posts(events, session_id)))  # scoring now
        assert f"explore:{session_id}" in runtime.tasks.running
        loop = asyncio.get_running_loop()
        began = loop.time()
        await runtime.stop()
        assert loop.time() - began < 2
        assert f"explore:{session_id}" not in runtime.tasks.running
        assert not any(e.event_type == "explore:failed" for e in events)


async def test_no_provider_fails_the_run_at_scoring_with_the_hint(
        make_settings: SettingsFactory, feeds: FeedServer) -> None:
    settings = make_settings(**{"llm.default_provider": "", "llm.providers": {},
                                "info_hub.sources": sources(feeds)})
    async with served(settings) as app:
        events = capture(runtime_of(app))
        session_id = (await start(app.test_client(), source="news"))["session_id"]
        await wait_for(lambda: any(e.event_type == "explore:failed" for e in events))
        failed = next(e for e in events if e.event_type == "explore:failed").payload
        assert failed["stage"] == "score" and failed["error"]["code"] == "llm_not_configured"
        assert failed["skipped"] == 3 and failed["scored"] == 0
        await wait_for(lambda: len(explore_posts(events, session_id)) == 2)
        fetched, post = explore_posts(events, session_id)
        assert fetched["step"] == "fetched" and post["step"] == "failed"
        assert "llm.providers" in post["reply"]


async def test_sources_can_be_added_live(client: TestClientProtocol, runtime: Runtime,
                                        feeds: FeedServer) -> None:
    events = capture(runtime)
    late = {"name": "late", "url": feeds.base + "/news.xml"}
    response = await client.post("/config/set", headers={"x-aman-confirm": "yes"}, json={
        "changes": {"info_hub.sources": [late]}})
    assert response.status_code == 200, await response.get_data(as_text=True)
    started = await start(client, source="late")
    assert started["source"] == "late"
    await wait_for(lambda: any(e.event_type == "explore:finished" for e in events))


async def test_explore_event_types_are_known_from_boot(client: TestClientProtocol) -> None:
    types = await (await client.get("/events/types")).get_json()
    listed = json.dumps(types)
    assert all(t in listed for t in ("explore:started", "explore:finished", "explore:failed"))
