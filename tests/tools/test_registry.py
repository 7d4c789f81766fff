"""ToolRegistry: registration, listing, offering by globs, validation, guards, facts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from aman.clock import SystemClock
from aman.config.agents import AgentToolSettings
from aman.config.settings import Settings
from aman.errors import ValidationFailedError
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput
from aman.tools.registry import (
    EVENT_OUTPUT_CHARS,
    ToolBlockedError,
    ToolClashError,
    ToolNotFoundError,
    ToolRegistry,
)
from tests.helpers import FakeBus, SettingsFactory, hang, wait_for


class Audit:
    available = True

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    async def record(self, action: str, **kwargs: Any) -> None:
        self.records.append((action, kwargs))


@dataclass
class Block:
    rule: str
    reason: str


class EchoParams(BaseModel):
    text: str = Field(description="What to echo.")
    times: int = Field(1, ge=1, le=3)
    nested: dict[str, int] = Field(default_factory=dict)


async def _echo(params: EchoParams, ctx: ToolContext) -> ToolOutput:
    if params.text == "fail":
        raise ToolFailedError("asked to fail")
    if params.text == "crash":
        raise RuntimeError("boom")
    if params.text == "slow":
        await hang()
    return ToolOutput(params.text * params.times)


def _guard(params: EchoParams, ctx: ToolContext) -> Block | None:
    if params.text != "secret":
        return None
    return Block("no_secret", "echoing 'secret' is never allowed")


def echo(name: str = "echo", source: str = "builtin", level: Sensitivity = Sensitivity.LOW) -> Tool:
    return Tool(name, "Echo.", EchoParams, level, _echo, source=source, guard=_guard)


@pytest.fixture
def facts() -> FakeBus:
    return FakeBus()


@pytest.fixture
def audit() -> Audit:
    return Audit()


def make_registry(settings: Settings, facts: FakeBus, audit: Audit) -> ToolRegistry:
    registry = ToolRegistry(lambda: settings, facts, audit, SystemClock())
    registry.register(echo())
    registry.register(echo("write_file", level=Sensitivity.MEDIUM))
    registry.register(echo("exec_cmd", level=Sensitivity.HIGH))
    return registry


@pytest.fixture
def registry(make_settings: SettingsFactory, facts: FakeBus, audit: Audit) -> ToolRegistry:
    return make_registry(make_settings(), facts, audit)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(call_id="echo-1", session_id="s1", roots=(tmp_path,))


def test_a_clash_names_both_sources(registry: ToolRegistry) -> None:
    with pytest.raises(ToolClashError) as caught:
        registry.register(echo(source="plugin:other"))
    assert "builtin" in caught.value.message and "plugin:other" in caught.value.message
    assert registry.get("echo").source == "builtin"


def test_plugin_tools_are_all_or_nothing(registry: ToolRegistry) -> None:
    with pytest.raises(ToolClashError):
        registry.register_plugin_tools("p", [echo("fresh"), echo("echo")])
    assert "fresh" not in registry.names()
    registry.register_plugin_tools("p", [echo("fresh")])
    assert registry.get("fresh").source == "plugin:p"
    assert registry.unregister_source("plugin:p") == ["fresh"]
    with pytest.raises(TypeError, match="not an aman.tools.model.Tool"):
        registry.register_plugin_tools("p", [{"name": "dict_tool"}])


def test_deferred_tools_are_claimed_now_and_built_on_first_use(registry: ToolRegistry) -> None:
    built: list[int] = []

    def load() -> list[Tool]:
        built.append(1)
        return [echo("lazy_a", source="late"), echo("lazy_b", source="late")]

    registry.register_deferred("late", ["lazy_a", "lazy_b"], load)
    assert {"lazy_a", "lazy_b"} <= set(registry.names()) and built == []
    with pytest.raises(ToolClashError) as caught:
        registry.register(echo("lazy_a", source="plugin:other"))
    assert "late" in caught.value.message and built == []
    assert registry.get("lazy_b").name == "lazy_b" and built == [1]
    assert registry.get("lazy_a").source == "late" and built == [1]  # built once, both at once
    assert sorted(registry.unregister_source("late")) == ["lazy_a", "lazy_b"]


def test_deferred_tools_unregister_before_they_are_built(registry: ToolRegistry) -> None:
    registry.register_deferred("late", ["lazy_a"], lambda: [echo("lazy_a", source="late")])
    assert registry.unregister_source("late") == ["lazy_a"]
    assert "lazy_a" not in registry.names()


def test_listing_builds_deferred_tools(registry: ToolRegistry) -> None:
    registry.register_deferred("late", ["lazy_a"], lambda: [echo("lazy_a", source="late")])
    assert "lazy_a" in [entry["name"] for entry in registry.listing()]


def test_unknown_tool_lists_close_names(registry: ToolRegistry) -> None:
    with pytest.raises(ToolNotFoundError) as caught:
        registry.get("ecoh")
    assert caught.value.code == "tool_not_found" and "echo" in caught.value.message


def test_listing_shows_the_effective_sensitivity(make_settings: SettingsFactory, facts: FakeBus,
                                                 audit: Audit) -> None:
    registry = make_registry(make_settings(tools__sensitivity={"echo": "high"}), facts, audit)
    items = {i["name"]: i for i in registry.listing()}
    assert items["echo"]["sensitivity"] == "high"
    assert registry.sensitivity("echo") is Sensitivity.HIGH
    assert items["write_file"]["sensitivity"] == "medium"
    assert items["echo"]["schema"]["properties"]["text"]["description"] == "What to echo."
    assert items["echo"]["source"] == "builtin"


def test_an_agents_levels_come_before_the_global_ones(make_settings: SettingsFactory,
                                                     facts: FakeBus, audit: Audit) -> None:
    registry = make_registry(make_settings(tools__sensitivity={"echo": "high"}), facts, audit)
    assert registry.sensitivity("echo", {"echo": "low"}) is Sensitivity.LOW
    assert registry.sensitivity("echo", {"write_file": "low"}) is Sensitivity.HIGH
    assert registry.sensitivity("write_file", {"write_file": "high"}) is Sensitivity.HIGH
    assert registry.sensitivity("write_file", {}) is Sensitivity.MEDIUM
    assert registry.listing()[0]["sensitivity"] == "high"  # GET /tools: no agent, global levels


def test_offered_by_allow_and_deny_globs(registry: ToolRegistry) -> None:
    def offered(**kw: Any) -> list[str]:
        return [t.name for t in registry.offered(AgentToolSettings(**kw))]

    assert offered() == ["echo", "exec_cmd", "write_file"]
    assert offered(allow=["e*"]) == ["echo", "exec_cmd"]
    assert offered(deny=["exec_*"]) == ["echo", "write_file"]
    assert offered(allow=[]) == []


async def test_success_publishes_dispatched_and_completed(registry: ToolRegistry, ctx: ToolContext,
                                                          facts: FakeBus) -> None:
    result = await registry.execute("echo", {"text": "ab", "times": 2}, ctx)
    assert (result.status, result.output, result.tool,
            result.call_id) == ("success", "abab", "echo", "echo-1")
    assert facts.types() == ["tool:dispatched", "tool:completed"]
    done = facts.emitted[1][1]
    assert done["call_id"] == "echo-1" and done["session_id"] == "s1" and done["output"] == "abab"
    assert done["duration_ms"] >= 0


async def test_event_output_is_capped(registry: ToolRegistry, ctx: ToolContext,
                                      facts: FakeBus) -> None:
    result = await registry.execute("echo", {"text": "x" * 1500}, ctx)
    assert len(result.output) == 1500
    assert len(facts.emitted[-1][1]["output"]) == EVENT_OUTPUT_CHARS + 1


async def test_invalid_arguments_name_the_field_path(registry: ToolRegistry, ctx: ToolContext,
                                                     facts: FakeBus) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        await registry.execute("echo", {"text": "a", "times": 9, "nested": {"k": "x"}}, ctx)
    assert "arguments.times" in caught.value.message
    assert "arguments.nested.k" in caught.value.message
    with pytest.raises(ValidationFailedError, match="arguments.text"):
        await registry.execute("echo", {}, ctx)
    assert facts.emitted == []


async def test_a_guard_blocks_before_anything_runs(registry: ToolRegistry, ctx: ToolContext,
                                                   facts: FakeBus, audit: Audit) -> None:
    result = await registry.execute("echo", {"text": "secret"}, ctx)
    assert result.status == "blocked" and result.reason == "echoing 'secret' is never allowed"
    assert isinstance(result.error, ToolBlockedError)
    assert result.error.details["rule"] == "no_secret"
    assert facts.types() == ["tool:security_denied"]
    denied = facts.emitted[0][1]
    assert denied == {"call_id": "echo-1", "tool": "echo", "session_id": "s1", "agent_id": None,
                      "rule": "no_secret", "reason": "echoing 'secret' is never allowed"}
    assert [a for a, _ in audit.records] == ["tool.blocked"]
    assert audit.records[0][1]["target"] == "tool:echo"
    assert await registry.screen("echo", {"text": "secret"}, ctx) is not None
    assert await registry.screen("echo", {"text": "fine"}, ctx) is None


async def test_failures_become_failed_results(registry: ToolRegistry, ctx: ToolContext,
                                              facts: FakeBus) -> None:
    failed = await registry.execute("echo", {"text": "fail"}, ctx)
    assert (failed.status, failed.output) == ("failed", "asked to fail")
    crashed = await registry.execute("echo", {"text": "crash"}, ctx)
    assert crashed.status == "failed" and crashed.output == "RuntimeError: boom"
    assert facts.types() == ["tool:dispatched", "tool:failed"] * 2


async def test_cancellation_propagates(registry: ToolRegistry, ctx: ToolContext,
                                      facts: FakeBus) -> None:
    task = asyncio.create_task(registry.execute("echo", {"text": "slow"}, ctx))
    await wait_for(lambda: "tool:dispatched" in facts.types(), what="the slow tool to run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
