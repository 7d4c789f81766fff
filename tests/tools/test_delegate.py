"""``delegate_task``: a sub-agent turn in a background session, depth-limited, with a timeout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.model import Event
from tests.chat.helpers import create_session, scripted, settle
from tests.helpers import SettingsFactory, runtime_of, wait_for


def call(name: str, **arguments: Any) -> str:
    """A scripted reply asking for one tool call."""
    return json.dumps({"tool_calls": [{"name": name, "arguments": arguments}]})


@asynccontextmanager
async def app_with(make_settings: SettingsFactory, *replies: str,
                   **overrides: Any) -> AsyncIterator[tuple[Runtime, Any, list[Event], str]]:
    settings = scripted(make_settings, *replies,
                        **{"tools.auto_approve": ["delegate_task"], **overrides})
    app = create_app(settings)
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        events: list[Event] = []
        rt.bus.observe(events.append)
        client = app.test_client()
        session = await create_session(client)
        yield rt, client, events, session["id"]


async def send_and_settle(client: Any, session_id: str) -> dict[str, Any]:
    response = await client.post(f"/chat/session/{session_id}/send", json={"text": "go"})
    assert response.status_code == 202, await response.get_data(as_text=True)
    state = await settle(client, session_id, "idle", "error", timeout=10.0)
    return dict(state["messages"][-1])


def results(events: list[Event]) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.event_type == "llm_tool_result"]


async def test_tool_is_listed_with_medium_sensitivity(make_settings: SettingsFactory) -> None:
    async with app_with(make_settings) as (_rt, client, _events, _sid):
        items = (await (await client.get("/tools")).get_json())["items"]
        tool = next(t for t in items if t["name"] == "delegate_task")
        assert tool["sensitivity"] == "medium" and tool["source"] == "builtin"
        assert set(tool["schema"]["properties"]) == {"task", "agent_id", "timeout_sec"}


async def test_delegation_returns_the_sub_agents_reply(make_settings: SettingsFactory) -> None:
    replies = (call("delegate_task", task="Summarise the plan"), "the sub answer",
               "Parent got: {tool_result}")
    async with app_with(make_settings, *replies) as (rt, client, events, sid):
        reply = await send_and_settle(client, sid)
        assert reply["status"] == "complete"
        assert "the sub answer" in reply["content"]
        output = reply["tool_steps"][0]["results"][0]
        assert output["status"] == "success"
        sessions = (await (await client.get("/chat/sessions")).get_json())["items"]
        child = next(s for s in sessions if s["id"] != sid)
        assert child["session_type"] == "background"
        assert "Summarise the plan" in child["title"]
        assert child["agent_id"] == next(s for s in sessions if s["id"] == sid)["agent_id"]
        messages = (await rt.chat.state(child["id"]))["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["content"] == "Summarise the plan"
        assert messages[1]["content"] == "the sub answer"
        assert [p["status"] for p in results(events)] == ["success"]
        assert output["output"] == {"session_id": child["id"], "agent_id": child["agent_id"],
                                    "reply": "the sub answer", "status": "complete"}


async def test_third_level_is_refused(make_settings: SettingsFactory) -> None:
    # root (depth 0) → child (1) → grandchild (2), whose own delegation is refused.
    replies = (call("delegate_task", task="level one"), call("delegate_task", task="level two"),
               call("delegate_task", task="level three"), "grandchild saw: {tool_result}",
               "child saw: {tool_result}", "root saw: {tool_result}")
    async with app_with(make_settings, *replies) as (rt, client, events, sid):
        reply = await send_and_settle(client, sid)
        assert reply["status"] == "complete"
        assert "depth limit" in reply["content"]
        assert [p["status"] for p in results(events)] == ["failed", "success", "success"]
        sessions = (await (await client.get("/chat/sessions")).get_json())["items"]
        assert len(sessions) == 3  # no fourth session was created
        titles = {s["title"] for s in sessions}
        assert not any("level three" in t for t in titles)
        assert rt.ready


async def test_timeout_fails_the_call_and_stops_the_sub_turn(
        make_settings: SettingsFactory) -> None:
    # The sub-agent's provider never gets to its first word, so the timeout fires however
    # loaded the machine is; the root's replies come from a provider of their own.
    replies = (call("delegate_task", task="slow work", agent_id="stuck", timeout_sec=0.2),
               "root saw: {tool_result}")
    never = {"kind": "scripted", "replies": ["never said"], "first_token_ms": 600_000}
    async with app_with(make_settings, *replies, **{
            "llm.providers.never": never, "agents": {"aman": {}, "stuck": {
                "provider": "never"}}}) as (rt, client, events, sid):
        reply = await send_and_settle(client, sid)
        assert reply["status"] == "complete"
        assert "did not reply within 0.2 s" in reply["content"]
        assert "its turn was stopped" in reply["content"]
        assert [p["status"] for p in results(events)] == ["failed"]
        sessions = (await (await client.get("/chat/sessions")).get_json())["items"]
        child = next(s for s in sessions if s["id"] != sid)
        assert child["agent_id"] == "stuck"
        state = await settle(client, child["id"], timeout=10.0)  # stopped, not still waiting
        assert "never said" not in [m["content"] for m in state["messages"]]
        assert all(m["status"] != "streaming" for m in state["messages"])
