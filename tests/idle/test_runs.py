"""POST /idle-run and GET /agents/idle-availability through a real runtime with the scripted
provider and the shipped idle skills."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.events.model import Event
from aman.idle import events as idle_events
from aman.idle.runs import work_session_id
from aman.idle.skills import METHOD_END, METHOD_START
from tests.chat.helpers import scripted, settle
from tests.helpers import SettingsFactory, wait_for

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

WORK_QUEUE = [
    {"id": "old-report", "project": "home", "title": "File the old report", "done": True},
    {"id": "bob-only", "project": "home", "title": "Bob's task", "agent_id": "bob"},
    {"id": "garden-plan", "project": "home", "title": "Plan the spring garden"},
]


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return scripted(make_settings, "Idle reply done.", **{
        "agents": {"aman": {}, "bob": {}, "picky": {"skills": ["idle-creative-break"]}},
        "idle.work_queue": WORK_QUEUE})


def capture(runtime: Runtime) -> list[Event]:
    events: list[Event] = []
    runtime.bus.observe(events.append)
    return events


async def idle_run(client: TestClientProtocol, **body: Any) -> Any:
    return await client.post("/idle-run", json=body)


async def test_a_study_run_sends_the_skill_and_gets_a_reply(client: TestClientProtocol,
                                                            runtime: Runtime) -> None:
    events = capture(runtime)
    response = await idle_run(client, tag="Study", background=True)
    assert response.status_code == 201, await response.get_data(as_text=True)
    body = await response.get_json()
    assert set(body) == {"session_id", "skill_name", "tag", "background"}
    assert body["tag"] == "study" and body["background"] is True
    assert body["skill_name"] in ("idle-review-notes", "idle-learn-topic")
    state = await settle(client, body["session_id"])
    assert state["session_type"] == "background"
    user, reply = state["messages"][-2:]
    assert user["content"].startswith("[IDLE ACTION] ")
    assert "{agent_id}" not in user["content"]
    assert METHOD_START.format(name=body["skill_name"]) in user["content"]
    assert METHOD_END in user["content"] and "Follow all stages" in user["content"]
    assert reply["role"] == "assistant" and reply["content"] == "Idle reply done."
    await wait_for(lambda: any(e.event_type == idle_events.RUN_FINISHED for e in events))
    started = next(e for e in events if e.event_type == idle_events.RUN_STARTED)
    assert started.source == idle_events.MANUAL_SOURCE
    assert started.payload["session_type"] == "background"
    assert started.payload["skill_name"] == body["skill_name"]
    finished = next(e for e in events if e.event_type == idle_events.RUN_FINISHED)
    assert finished.payload["status"] == "complete"
    sent = next(e for e in events if e.event_type == "message_received")
    assert sent.payload["sender"] == idle_events.IDLE_OPERATOR


async def test_a_missing_tag_is_400_saying_to_send_one(client: TestClientProtocol) -> None:
    for body in ({}, {"tag": "  "}):
        response = await idle_run(client, **body)
        assert response.status_code == 400
        error = (await response.get_json())["error"]
        assert error["code"] == "missing_tag" and "tag" in error["message"]
        assert '"tag"' in error["hint"]


async def test_a_tag_without_skill_is_404_naming_it_and_the_tags_there_are(
        client: TestClientProtocol) -> None:
    response = await idle_run(client, tag="Sleep")
    assert response.status_code == 404
    error = (await response.get_json())["error"]
    assert error["code"] == "no_idle_skill" and "'sleep'" in error["message"]
    assert error["details"]["available"] == ["fun", "study", "work"]


async def test_an_unknown_agent_is_400(client: TestClientProtocol) -> None:
    response = await idle_run(client, tag="fun", agent_key="nobody")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "agent_unavailable"


async def test_half_a_work_key_is_400(client: TestClientProtocol) -> None:
    response = await idle_run(client, tag="work", project_key="home")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "incomplete_work_key"


async def test_an_agent_limited_to_some_skills_only_gets_those(
        client: TestClientProtocol) -> None:
    response = await idle_run(client, tag="study", agent_key="picky")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["details"]["available"] == ["fun"]
    response = await idle_run(client, tag="fun", agent_key="picky")
    assert (await response.get_json())["skill_name"] == "idle-creative-break"


async def test_a_work_run_takes_the_first_open_item_and_resumes_its_session(
        client: TestClientProtocol) -> None:
    first = await (await idle_run(client, tag="work", background=True)).get_json()
    expected = work_session_id("aman", "home", "garden-plan")
    assert first["session_id"] == expected and first["skill_name"] == "idle-advance-work"
    state = await settle(client, expected)
    assert state["session_type"] == "persistent"  # resumable, even for a background run
    assert "Work item home/garden-plan: Plan the spring garden" in state["messages"][0]["content"]
    again = await idle_run(client, tag="work", project_key="home", work_id="garden-plan")
    assert (await again.get_json())["session_id"] == expected
    state = await settle(client, expected)
    assert [m["role"] for m in state["messages"]] == ["user", "assistant", "user", "assistant"]
    # Bob's own item goes to bob first; a work key outside the queue still gets its session.
    bob = await (await idle_run(client, tag="work", agent_key="bob")).get_json()
    assert bob["session_id"] == work_session_id("bob", "home", "bob-only")
    other = await (await idle_run(client, tag="work", project_key="x", work_id="y")).get_json()
    assert other["session_id"] == work_session_id("aman", "x", "y")


async def test_availability_lists_every_agent(client: TestClientProtocol) -> None:
    response = await client.get("/agents/idle-availability")
    assert response.status_code == 200
    assert (await response.get_json()) == {"agents": {
        "aman": {"work": True, "study": True, "fun": True},
        "bob": {"work": True, "study": True, "fun": True},
        "picky": {"work": False, "study": False, "fun": True},
    }}


async def test_work_needs_an_open_item_for_that_agent(make_settings: SettingsFactory) -> None:
    from aman.core.app import create_app
    from tests.helpers import runtime_of

    settings = scripted(make_settings, **{
        "agents": {"aman": {}, "bob": {}},
        "idle.work_queue": [{"id": "t", "project": "p", "title": "T", "agent_id": "bob"}]})
    app = create_app(settings)
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        client = app.test_client()
        found = (await (await client.get("/agents/idle-availability")).get_json())["agents"]
        assert found["aman"]["work"] is False and found["bob"]["work"] is True
        await client.post("/skill/idle-creative-break/disable")
        found = (await (await client.get("/agents/idle-availability")).get_json())["agents"]
        assert found["aman"] == {"work": False, "study": True, "fun": False}
