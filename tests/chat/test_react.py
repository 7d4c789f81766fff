"""The agent's ReAct loop with the scripted provider: approvals, blocks, refusals, limits, stop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aman.chat.turn import build_prompt
from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.model import Event
from tests.chat.helpers import create_session, scripted, settle
from tests.helpers import SettingsFactory, runtime_of, wait_for


def call(name: str, **arguments: Any) -> str:
    """A scripted reply asking for one tool call."""
    return json.dumps({"tool_calls": [{"name": name, "arguments": arguments}]})


class Harness:
    def __init__(self, rt: Runtime, client: Any, events: list[Event]) -> None:
        self.rt, self.client, self.events = rt, client, events

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.event_type == event_type]

    async def send(self, session_id: str, text: str = "go") -> None:
        response = await self.client.post(f"/chat/session/{session_id}/send", json={"text": text})
        assert response.status_code == 202, await response.get_data(as_text=True)

    async def ask(self, count: int = 1) -> dict[str, Any]:
        """Wait for the ``count``-th approval prompt."""
        await wait_for(lambda: len(self.of("tool_auth_required")) >= count)
        return self.of("tool_auth_required")[count - 1]

    async def reply(self, session_id: str) -> dict[str, Any]:
        state = await settle(self.client, session_id, "idle", "error")
        return state["messages"][-1]


@asynccontextmanager
async def harness(make_settings: SettingsFactory, *replies: str,
                  **overrides: Any) -> AsyncIterator[tuple[Harness, str]]:
    app = create_app(scripted(make_settings, *replies, **overrides))
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        events: list[Event] = []
        rt.bus.observe(events.append)
        client = app.test_client()
        session = await create_session(client)
        yield Harness(rt, client, events), session["id"]


async def test_low_tool_runs_without_asking_and_its_result_is_fed_back(
        make_settings: SettingsFactory) -> None:
    async with harness(make_settings, call("read", path="a.txt"), "Got: {tool_result}") as (h, sid):
        workspace = h.rt.settings.runtime.dir / "workspace"
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "a.txt").write_text("hello file")
        await h.send(sid)
        reply = await h.reply(sid)
        assert reply["status"] == "complete" and "hello file" in reply["content"]
        assert h.of("tool_auth_required") == []
        assert [p["status"] for p in h.of("llm_tool_result")] == ["success"]
        assert h.of("llm_tool_call")[0]["tool"] == "read"
        step = reply["tool_steps"][0]
        assert step["calls"][0]["name"] == "read" and step["results"][0]["status"] == "success"
        # The next turn's prompt shows the model its call and the result again.
        history = await h.rt.chat._repo.messages(sid)  # noqa: SLF001
        prompt = build_prompt("", history, max_context_tokens=4096, max_output_tokens=10)
        assert [m.role for m in prompt.messages] == ["user", "assistant", "tool", "assistant"]
        assert prompt.messages[1].tool_calls[0].name == "read"


async def test_medium_asks_once_per_session_and_high_asks_every_time(
        make_settings: SettingsFactory) -> None:
    replies = (call("write", path="n.md", content="x"), "wrote",
               call("write", path="n.md", content="x"), "again",
               call("exec", command="echo hi"), "ran: {tool_result}")
    async with harness(make_settings, *replies) as (h, sid):
        await h.send(sid)
        prompt = await h.ask(1)
        assert prompt["tool_name"] == "write" and prompt["sensitivity"] == "medium"
        await h.rt.approvals.respond(prompt["auth_id"], True, None, operator="alice")
        assert (await h.reply(sid))["content"] == "wrote"
        assert (h.rt.settings.runtime.dir / "workspace" / "n.md").read_text() == "x"
        await h.send(sid)
        assert (await h.reply(sid))["content"] == "again"
        assert len(h.of("tool_auth_required")) == 1  # the same call did not ask again
        await h.send(sid)
        high = await h.ask(2)
        assert high["tool_name"] == "exec" and high["sensitivity"] == "high"
        await h.rt.approvals.respond(high["auth_id"], True, "session", operator="alice")
        assert "hi" in (await h.reply(sid))["content"]


async def test_denial_and_timeout_are_fed_back(make_settings: SettingsFactory) -> None:
    replies = (call("exec", command="echo a"), "saw {tool_result}")
    async with harness(make_settings, *replies,
                       **{"tools.approval_timeout_sec": 0.2}) as (h, sid):
        await h.send(sid)
        prompt = await h.ask(1)
        await h.rt.approvals.respond(prompt["auth_id"], False, None, operator="bob")
        assert (await h.reply(sid))["content"].startswith("saw [denied]")
        await h.send(sid)
        await h.ask(2)  # nobody answers
        assert (await h.reply(sid))["content"].startswith("saw [timeout]")
        assert [p["status"] for p in h.of("llm_tool_result")] == ["denied", "timeout"]


async def test_hardline_is_blocked_even_when_auto_approved(make_settings: SettingsFactory) -> None:
    replies = (call("exec", command="rm -rf /"), "saw {tool_result}")
    async with harness(make_settings, *replies, **{"tools.auto_approve": ["exec"]}) as (h, sid):
        await h.send(sid)
        reply = await h.reply(sid)
        assert reply["content"].startswith("saw [blocked]")
        assert h.of("tool_auth_required") == []
        assert h.of("llm_tool_result")[0]["status"] == "blocked"
        assert h.of("tool:security_denied")


async def test_a_tool_not_offered_is_refused(make_settings: SettingsFactory) -> None:
    replies = (call("read", path="a.txt"), "saw {tool_result}")
    async with harness(make_settings, *replies,
                       **{"agents": {"aman": {"tools": {"deny": ["read"]}}}}) as (h, sid):
        await h.send(sid)
        reply = await h.reply(sid)
        assert reply["content"].startswith("saw [failed]") and "not available" in reply["content"]
        assert h.of("tool:dispatched") == []


async def test_max_turns(make_settings: SettingsFactory) -> None:
    async with harness(make_settings, call("list"),
                       **{"agents": {"aman": {"max_react_turns": 2}}}) as (h, sid):
        await h.send(sid)
        reply = await h.reply(sid)
        assert reply["status"] == "complete" and len(reply["tool_steps"]) == 2
        await wait_for(lambda: bool(h.of("agent:max_turns_reached")))
        assert h.of("agent:max_turns_reached")[0]["max_react_turns"] == 2


async def test_stop_during_a_pending_approval(make_settings: SettingsFactory) -> None:
    async with harness(make_settings, call("exec", command="echo a"), "never") as (h, sid):
        await h.send(sid)
        prompt = await h.ask(1)
        await h.client.post(f"/chat/session/{sid}/stop")
        reply = await h.reply(sid)
        assert reply["status"] == "interrupted"
        await wait_for(lambda: any(p["auth_id"] == prompt["auth_id"]
                                     for p in h.of("tool_auth_resolved")))
        assert await h.rt.approvals.pending() == []


async def test_stop_during_a_running_exec(make_settings: SettingsFactory) -> None:
    async with harness(make_settings, call("exec", command="sleep 30"), "never",
                       **{"tools.auto_approve": ["exec"]}) as (h, sid):
        await h.send(sid)
        await wait_for(lambda: bool(h.of("tool:dispatched")))
        started = h.rt.clock.monotonic()
        await h.client.post(f"/chat/session/{sid}/stop")
        reply = await h.reply(sid)
        assert reply["status"] == "interrupted"
        assert h.rt.clock.monotonic() - started < 5


async def test_an_agents_own_level_decides_whether_it_asks(make_settings: SettingsFactory) -> None:
    replies = (call("read", path="a.txt"), "saw {tool_result}")
    async with harness(make_settings, *replies, **{
            "agents": {"aman": {"tools": {"sensitivity": {"read": "high"}}}}}) as (h, sid):
        (h.rt.settings.runtime.dir / "workspace").mkdir(parents=True, exist_ok=True)
        (h.rt.settings.runtime.dir / "workspace" / "a.txt").write_text("guarded")
        await h.send(sid)
        prompt = await h.ask(1)
        assert prompt["tool_name"] == "read" and prompt["sensitivity"] == "high"
        await h.rt.approvals.respond(prompt["auth_id"], True, None, operator="alice")
        assert (await h.reply(sid))["content"] == "saw guarded"
        assert h.rt.tools.sensitivity("read").value == "low"  # other agents: unchanged


def remember(fact: str) -> str:
    return call("memory", action="add", content=fact)


async def test_memory_writes_run_without_asking_by_default(make_settings: SettingsFactory) -> None:
    async with harness(make_settings, remember("likes tea"), "kept") as (h, sid):
        await h.send(sid)
        assert (await h.reply(sid))["content"] == "kept"
        assert h.of("tool_auth_required") == []
        assert [p["status"] for p in h.of("llm_tool_result")] == ["success"]
        assert "likes tea" in h.rt.memory.path("aman", "memory").read_text(encoding="utf-8")


async def test_memory_write_approval_asks_for_every_write(make_settings: SettingsFactory) -> None:
    replies = (remember("likes tea"), "kept", remember("likes coffee"), "saw {tool_result}")
    async with harness(make_settings, *replies, **{
            "agents": {"aman": {"memory": {"write_approval": True}}}}) as (h, sid):
        await h.send(sid)
        first = await h.ask(1)
        assert first["tool_name"] == "memory" and first["sensitivity"] == "high"
        await h.rt.approvals.respond(first["auth_id"], True, "session", operator="alice")
        assert (await h.reply(sid))["content"] == "kept"
        await h.send(sid)
        second = await h.ask(2)  # approved for the session, asked again all the same
        assert second["tool_name"] == "memory" and second["sensitivity"] == "high"
        await h.rt.approvals.respond(second["auth_id"], False, None, operator="alice")
        assert (await h.reply(sid))["content"].startswith("saw [denied]")
        assert [p["status"] for p in h.of("llm_tool_result")] == ["success", "denied"]
        kept = h.rt.memory.path("aman", "memory").read_text(encoding="utf-8")
        assert "likes tea" in kept and "likes coffee" not in kept
