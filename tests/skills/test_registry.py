"""SkillService against real SQLite and the real bus: state, versions, search, runs, DLQ."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aman.core.runtime import Runtime
from aman.errors import InvalidInputError, NotFoundError
from aman.events.filters import EventFilter
from aman.events.model import Event
from tests.helpers import wait_for


def skill_md(name: str, description: str = "does things", extra: str = "", body: str = "") -> str:
    return f"---\nname: {name}\ndescription: {description}\n{extra}---\n{body}"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def test_reload_counts_versions_and_search(skills_runtime: Runtime, skills_dir: Path) -> None:
    service = skills_runtime.skills
    seen: list[Event] = []

    async def collect(event: Event) -> None:
        seen.append(event)

    skills_runtime.bus.subscribe(
        "t", collect, EventFilter(event_types=frozenset({"skill_reloaded"})))
    path = write(skills_dir / "alpha" / "SKILL.md",
                 skill_md("alpha", "Brew coffee", "version: 1.0.0\ntags: [kitchen]\n",
                          "grind beans"))
    write(skills_dir / "broken.yaml", "name: [\n")
    counts = await service.reload()
    assert counts == {"loaded": 1, "added": 2, "changed": 0, "removed": 0, "errors": 1}
    await wait_for(lambda: any(e.payload.get("reason") == "manual" for e in seen))
    items = {i["name"]: i for i in service.listing()}
    assert items["broken"]["status"] == "error" and items["broken"]["error"]["line"] == 2
    path.write_text(skill_md("alpha", "Brew tea", "version: 1.1.0\n"), encoding="utf-8")
    assert (await service.reload())["changed"] == 1
    versions = await service.versions("alpha")
    assert [v["version"] for v in versions] == ["1.1.0", "1.0.0"] and versions[0]["current"]
    assert [h["name"] for h in await service.search("tea")] == ["alpha"]
    assert await service.search("coffee") == []
    with pytest.raises(InvalidInputError):
        await service.search("  ")
    # rollback by version writes the old content back and reloads
    result = await service.rollback("alpha", version="1.0.0")
    assert result["restored"]["version"] == "1.0.0"
    assert "Brew coffee" in path.read_text(encoding="utf-8")
    assert service.get("alpha").version == "1.0.0"
    assert [v["version"] for v in await service.versions("alpha")][0] == "1.0.0"
    assert not list(path.parent.glob(".*tmp"))
    with pytest.raises(NotFoundError):
        await service.rollback("alpha", hash_="deadbeef")
    path.unlink()
    assert (await service.reload())["removed"] == 1
    with pytest.raises(NotFoundError):
        service.get("alpha")


async def test_the_index_shows_every_model_visible_skill_and_honours_an_allow_list(
        skills_runtime: Runtime, skills_dir: Path) -> None:
    write(skills_dir / "plain" / "SKILL.md", skill_md("plain"))
    write(skills_dir / "kw" / "SKILL.md", skill_md("kw", extra="triggers: [hello]\n"))
    await skills_runtime.skills.reload()
    index = skills_runtime.skills.llm_visible()
    assert [s["name"] for s in index] == ["kw", "plain"]
    assert index[1]["path"] == str(skills_dir / "plain" / "SKILL.md")
    assert [s["name"] for s in skills_runtime.skills.llm_visible(["plain"])] == ["plain"]
    assert skills_runtime.skills.llm_visible([]) == []


async def test_enabled_state_survives_restart(skills_runtime: Runtime, skills_dir: Path) -> None:
    write(skills_dir / "kw" / "SKILL.md", skill_md("kw", extra="triggers: [hello]\n"))
    await skills_runtime.skills.reload()
    assert [s["name"] for s in skills_runtime.skills.llm_visible()] == ["kw"]
    await skills_runtime.skills.set_enabled("kw", False)
    assert skills_runtime.skills.llm_visible() == []
    await skills_runtime.stop()
    await skills_runtime.start()
    assert not skills_runtime.skills.enabled("kw")
    assert skills_runtime.skills.listing()[0]["enabled"] is False


PING = """name: pinger
version: "1"
triggers:
  - event_types: [message_received]
    payload: {text: "/ping*"}
concurrency: serial
actions:
  - emit:
      event_type: test:pong
      payload: {echo: "{{ payload.text }}", from: "{{ event.source }}"}
"""


async def test_event_skill_runs_on_the_bus(skills_runtime: Runtime, skills_dir: Path) -> None:
    write(skills_dir / "pinger.yaml", PING)
    await skills_runtime.skills.reload()
    bus = skills_runtime.bus
    assert "skill:pinger" in bus.subscriber_names
    assert any(t["event_type"] == "test:pong" and t["owner"] == "skill:pinger"
               for t in skills_runtime.event_types.listing())
    got: list[Event] = []

    async def collect(event: Event) -> None:
        got.append(event)

    wanted = frozenset({"test:pong", "skill:completed"})
    bus.subscribe("t", collect, EventFilter(event_types=wanted))
    trigger = Event.create(source="chat:x", event_type="message_received",
                           payload={"text": "/ping 1"})
    await bus.publish(trigger)
    await bus.publish(Event.create(source="chat:x", event_type="message_received",
                                   payload={"text": "hello"}))
    await wait_for(lambda: len(got) == 2)
    pong = next(e for e in got if e.event_type == "test:pong")
    assert pong.payload == {"echo": "/ping 1", "from": "chat:x"}
    assert pong.trace_id == trigger.trace_id and pong.metadata.parent_event_id == trigger.id
    await skills_runtime.writer.flush()
    _, steps = await skills_runtime.event_log.trace(trigger.trace_id)
    assert any(step["step"] == "skill:completed" for step in steps)
    await skills_runtime.skills.set_enabled("pinger", False)
    assert "skill:pinger" not in bus.subscriber_names


async def test_workflow_action_fails_through_retries_to_the_dlq(
        skills_runtime: Runtime, skills_dir: Path) -> None:
    write(skills_dir / "wf.yaml", "name: wf\ntriggers: [{event_types: [wf_go]}]\n"
                                  "actions: [{workflow: {name: triage}}]\n")
    await skills_runtime.skills.reload()
    trigger = Event.create(source="test:x", event_type="wf_go", max_retries=0)
    await skills_runtime.bus.publish(trigger)
    await wait_for(lambda: skills_runtime.bus.stats.dead_lettered == 1)
    await skills_runtime.writer.flush()
    _, steps = await skills_runtime.event_log.trace(trigger.trace_id)
    failed = [s for s in steps if s["step"] == "skill:failed"]
    assert failed and "workflow not found: triage" in failed[0]["detail"]["error"]


async def test_serial_skill_runs_one_at_a_time(skills_runtime: Runtime, skills_dir: Path) -> None:
    write(skills_dir / "s.yaml", "name: s\nconcurrency: serial\ntriggers: [{event_types: [go]}]\n")
    await skills_runtime.skills.reload()
    runner = skills_runtime.skills.runner
    skill = skills_runtime.skills.get("s")
    running = 0
    peak = 0
    original = runner.run
    gate = asyncio.Event()

    async def held(*args: object) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1
        await original(*args)  # type: ignore[arg-type]

    runner.run = held  # type: ignore[method-assign]
    for n in range(3):  # three sources: the bus dispatches them at once
        await skills_runtime.bus.publish(Event.create(source=f"t:{n}", event_type="go"))
    await wait_for(lambda: running == 1 and skills_runtime.bus.stats.inflight == 3,
                   what="one run holding the skill's slot, two dispatched and waiting for it")
    gate.set()
    await wait_for(lambda: skills_runtime.bus.stats.delivered >= 3 and running == 0)
    await skills_runtime.bus.wait_idle()
    assert peak == 1 and skill.ok


async def test_plugin_dirs_have_lowest_precedence(skills_runtime: Runtime, skills_dir: Path,
                                                  tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugin-skills"
    write(plugin_dir / "dup" / "SKILL.md", skill_md("dup", "from plugin"))
    write(plugin_dir / "only" / "SKILL.md", skill_md("only", "plugin only"))
    write(skills_dir / "dup" / "SKILL.md", skill_md("dup", "from user"))
    skills_runtime.skills.add_dirs([plugin_dir], owner="plugin:demo")
    await wait_for(lambda: "only" in {s["name"] for s in skills_runtime.skills.listing()})
    dup = skills_runtime.skills.snapshot("dup")
    assert dup["description"] == "from user"
    assert dup["shadowed"] == [str(plugin_dir / "dup" / "SKILL.md")]
    skills_runtime.skills.remove_dirs("plugin:demo")
    await wait_for(lambda: "only" not in {s["name"] for s in skills_runtime.skills.listing()})
