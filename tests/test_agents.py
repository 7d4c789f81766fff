"""AgentService: descriptors with defaults resolved, statuses, chat selection, reload."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aman.agents import (
    AgentNotFoundError,
    AgentService,
    AgentUnavailableError,
    InvalidAgentStatusError,
)
from aman.config.agents import AgentSettings
from aman.config.settings import Settings
from aman.errors import ConfigError, InvalidStateError
from tests.helpers import FakeBus, ManualClock

PROVIDERS = {"default_provider": "main",
             "providers": {"main": {"kind": "scripted", "model": "m-main"},
                           "other": {"kind": "scripted", "model": "m-other"}}}




@dataclass
class Harness:
    service: AgentService
    bus: FakeBus
    clock: ManualClock
    holder: list[Settings]


@pytest.fixture
def souls_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "souls"
    folder.mkdir()
    (folder / "default.md").write_text("# Default\n")
    (folder / "pirate.md").write_text("# Pirate\n")
    return folder


def settings_with(runtime_dir: Path, souls_dir: Path, agents: dict[str, Any] | None,
                  llm: dict[str, Any] | None = None) -> Settings:
    """Settings without the shipped config file, so only the agents given here exist."""
    return Settings.model_validate({"runtime": {"dir": str(runtime_dir)},
                                    "llm": PROVIDERS if llm is None else llm,
                                    "souls": {"dirs": [str(souls_dir)]}, "agents": agents or {}})


@pytest.fixture
def build(runtime_dir: Path, souls_dir: Path) -> Any:
    async def make(agents: dict[str, Any] | None = None, *, start: bool = True) -> Harness:
        holder = [settings_with(runtime_dir, souls_dir, agents)]
        bus, clock = FakeBus(), ManualClock(1_714_896_000_000)
        service = AgentService(lambda: holder[0], bus, clock)
        if start:
            await service.start()
        return Harness(service, bus, clock, holder)

    return make


def with_agents(h: Harness, agents: dict[str, Any]) -> Settings:
    """Settings as the file would read after an edit of the agents section."""
    return h.holder[0].model_copy(
        update={"agents": {k: AgentSettings.model_validate(v) for k, v in agents.items()}})


async def test_without_an_agents_section_the_default_agent_aman_is_in_force(build: Any) -> None:
    h = await build()
    [item] = h.service.listing()
    assert item["descriptor"]["agent_id"] == "aman"
    assert item["descriptor"]["provider"] == "main" and item["descriptor"]["model"] == "m-main"
    assert item["descriptor"]["soul"] == "default"
    assert item["status"] == "Idle" and item["system_state"] == "ready"
    assert item["active_session_id"] is None and item["registered_at"] == h.clock.now
    assert h.service.for_chat(None).agent_id == "aman"


async def test_descriptor_resolves_provider_model_and_soul_defaults(build: Any) -> None:
    h = await build({"cortana": {"display_name": "Cortana", "provider": "other", "soul": "pirate",
                                 "skills": ["notes"], "temperature": 0.2},
                     "plain": {}})
    cortana = h.service.snapshot("cortana")["descriptor"]
    assert cortana == {"agent_id": "cortana", "display_name": "Cortana", "provider": "other",
                       "model": "m-other", "soul": "pirate", "allowed_skills": ["notes"],
                       "enabled": True, "queue_max_size": 10, "max_context_tokens": 4096,
                       "max_output_tokens": 512, "temperature": 0.2}
    plain = h.service.get("plain")
    assert (plain.provider, plain.model, plain.soul) == ("main", "m-main", "default")
    assert plain.descriptor.display_name == "plain" and plain.allowed_skills is None
    assert plain.settings.temperature == 0.7


async def test_no_provider_configured_leaves_provider_and_model_null(
        runtime_dir: Path, souls_dir: Path) -> None:
    settings = settings_with(runtime_dir, souls_dir, None, llm={})
    service = AgentService(lambda: settings, FakeBus(), ManualClock(1_714_896_000_000))
    await service.start()
    agent = service.get("aman")
    assert agent.provider is None and agent.model is None


async def test_agents_are_preparing_until_start_then_registered(build: Any) -> None:
    h = await build({"a": {}, "off": {"enabled": False}}, start=False)
    assert [i["status"] for i in h.service.listing()] == ["Preparing", "Preparing"]
    assert h.bus.emitted == []
    await h.service.start()
    assert {i["descriptor"]["agent_id"]: i["status"] for i in h.service.listing()} == {
        "a": "Idle", "off": "Disabled"}
    registered = [p for t, p, s in h.bus.emitted if t == "agent:registered"]
    assert [p["agent_id"] for p in registered] == ["a", "off"]
    assert {s for _, _, s in h.bus.emitted} == {"system:agents"}
    assert registered[0]["descriptor"]["agent_id"] == "a"
    await h.service.stop()
    assert h.service.get("a").status == "Preparing"


async def test_an_agent_whose_soul_is_missing_starts_in_error(build: Any) -> None:
    h = await build({"lost": {"soul": "nowhere"}, "ok": {}})
    lost = h.service.get("lost")
    assert lost.status == "Error" and "soul 'nowhere' not found" in lost.activity
    with pytest.raises(AgentUnavailableError, match="Error: soul 'nowhere'"):
        h.service.for_chat("lost")


async def test_unknown_agent_is_agent_not_found_listing_known_ids(build: Any) -> None:
    h = await build({"a": {}, "b": {}})
    with pytest.raises(AgentNotFoundError) as caught:
        h.service.get("zed")
    assert caught.value.code == "agent_not_found"
    assert str(caught.value) == "agent not found: zed (configured: a, b)"


async def test_for_chat_picks_aman_first_else_the_first_agent(build: Any) -> None:
    h = await build({"first": {}, "aman": {}})
    assert h.service.for_chat(None).agent_id == "aman"
    h2 = await build({"first": {}, "second": {}})
    assert h2.service.for_chat(None).agent_id == "first"
    assert h2.service.for_chat("second").agent_id == "second"


async def test_for_chat_refuses_unknown_and_disabled_agents_listing_usable_ones(
        build: Any) -> None:
    h = await build({"a": {}, "off": {"enabled": False}, "b": {}})
    with pytest.raises(AgentUnavailableError) as unknown:
        h.service.for_chat("ghost")
    assert unknown.value.code == "agent_unavailable"
    assert "'ghost' cannot chat: it is not configured; usable agents: a, b" in str(unknown.value)
    with pytest.raises(AgentUnavailableError, match="'off' cannot chat: it is disabled"):
        h.service.for_chat("off")
    h.service.set_status("b", "Disabled")
    with pytest.raises(AgentUnavailableError, match="status is Disabled; usable agents: a$"):
        h.service.for_chat("b")


async def test_busy_and_idle_track_running_turns_and_emit_facts(build: Any) -> None:
    h = await build({"a": {}})
    h.bus.emitted.clear()
    h.service.mark_busy("a", "s1")
    agent = h.service.get("a")
    assert (agent.status, agent.system_state, agent.active_session_id) == ("Busy", "chatting", "s1")
    assert h.bus.types() == ["agent:busy", "agent:status_changed"]
    assert h.bus.last("agent:status_changed") == {
        "agent_id": "a", "status": "Busy", "system_state": "chatting", "session_id": "s1",
        "previous": "Idle", "reason": "turn_started"}
    h.service.mark_busy("a", "s2")  # a second session: still Busy, no status change
    assert h.bus.types()[-1] == "agent:busy" and agent.active_session_id == "s2"
    h.service.mark_idle("a", "s2")
    assert agent.status == "Busy" and agent.active_session_id == "s1"
    h.service.mark_idle("a", "s1")
    assert (agent.status, agent.system_state, agent.active_session_id) == ("Idle", "ready", None)
    assert h.bus.types()[-2:] == ["agent:idle", "agent:status_changed"]
    assert h.bus.last("agent:idle")["previous"] == "Busy"
    h.service.mark_idle("gone", "s1")  # an agent removed meanwhile: no error


async def test_a_turn_does_not_override_an_operator_status(build: Any) -> None:
    h = await build({"a": {}})
    h.service.set_status("a", "Error")
    h.service.mark_busy("a", "s1")
    h.service.mark_idle("a", "s1")
    assert h.service.get("a").status == "Error"


async def test_set_status_validates_and_emits(build: Any) -> None:
    h = await build({"a": {}, "off": {"enabled": False}})
    h.bus.emitted.clear()
    snapshot = h.service.set_status("a", "busy")
    assert snapshot["status"] == "Busy" and snapshot["system_state"] == "working"
    assert h.bus.last("agent:status_changed")["previous"] == "Idle"
    with pytest.raises(InvalidAgentStatusError) as bad:
        h.service.set_status("a", "Sleeping")
    assert bad.value.code == "invalid_agent_status"
    assert "allowed: Disabled, Preparing, Idle, Busy, Error" in str(bad.value)
    with pytest.raises(InvalidStateError) as disabled:
        h.service.set_status("off", "Idle")
    assert disabled.value.code == "agent_disabled" and "agents.off.enabled" in disabled.value.hint
    h.bus.emitted.clear()
    h.service.set_status("a", "Busy")  # no change, no fact
    assert h.bus.emitted == []


async def test_reload_replaces_adds_and_removes(build: Any) -> None:
    h = await build({"a": {}, "b": {}})
    h.service.mark_busy("a", "s1")
    registered_at = h.service.get("a").registered_at
    h.clock.now += 5000
    fresh = with_agents(h, {"a": {"temperature": 0.1, "provider": "other"}, "c": {}})
    result = h.service.reload("a", fresh)
    assert result == {"ok": True, "agent_id": "a", "added": False, "removed": False,
                      "changed": ["provider", "temperature"]}
    a = h.service.get("a")
    assert a.provider == "other" and a.settings.temperature == 0.1
    assert a.status == "Busy" and a.active_session_id == "s1"  # the running turn goes on
    assert a.registered_at == registered_at
    assert h.bus.last("agent:registered")["reloaded"] is True
    assert h.service.reload("c", fresh)["added"] is True
    assert h.service.get("c").status == "Idle" and h.service.get("c").registered_at == h.clock.now
    assert h.service.reload("b", fresh)["removed"] is True
    assert "agent:removed" in h.bus.types()
    with pytest.raises(AgentNotFoundError):
        h.service.get("b")
    with pytest.raises(AgentNotFoundError, match="configured in the file: a, c"):
        h.service.reload("zed", fresh)


async def test_reload_settles_status_from_config(build: Any) -> None:
    h = await build({"a": {}})
    h.service.reload("a", with_agents(h, {"a": {"enabled": False}}))
    assert h.service.get("a").status == "Disabled"
    assert h.bus.last("agent:status_changed")["reason"] == "reload"
    h.service.reload("a", with_agents(h, {"a": {}}))
    assert h.service.get("a").status == "Idle"


async def test_reload_refusing_a_bad_entry_keeps_the_old_agent(build: Any) -> None:
    h = await build({"a": {"temperature": 0.3}})
    # A provider the running daemon lacks: the file may add one, but providers need a restart.
    fresh = with_agents(h, {"a": {"provider": "new"}})
    with pytest.raises(ConfigError, match=r"agents\.a\.provider = 'new'") as caught:
        h.service.reload("a", fresh)
    assert "keeps running" in caught.value.hint
    with pytest.raises(ConfigError, match=r"agents\.a\.soul = 'nowhere'"):
        h.service.reload("a", with_agents(h, {"a": {"soul": "nowhere"}}))
    assert h.service.get("a").settings.temperature == 0.3 and h.service.get("a").status == "Idle"
