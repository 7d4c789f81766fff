"""The folder watcher with real files: create, edit, break, fix, rename, delete."""

from __future__ import annotations

from pathlib import Path

from quart import Quart

from aman.core.runtime import Runtime
from aman.skills.watcher import relevant
from tests.helpers import runtime_of, wait_for

DEADLINE = 3.0  # generous on a shared box; the benchmark measures the real latency


def md(name: str, description: str, version: str) -> str:
    return f"---\nname: {name}\ndescription: {description}\nversion: {version}\n---\nbody\n"


def listed(rt: Runtime) -> dict[str, dict[str, object]]:
    return {item["name"]: item for item in rt.skills.listing()}


async def test_watcher_follows_the_folder(skills_app: Quart, skills_dir: Path) -> None:
    rt = runtime_of(skills_app)
    path = skills_dir / "live" / "SKILL.md"
    path.parent.mkdir()
    path.write_text(md("live", "first", "1.0.0"), encoding="utf-8")
    await wait_for(lambda: "live" in listed(rt), timeout=DEADLINE)
    path.write_text(md("live", "second", "2.0.0"), encoding="utf-8")
    await wait_for(lambda: listed(rt)["live"]["version"] == "2.0.0", timeout=DEADLINE)
    assert [v["version"] for v in await rt.skills.versions("live")] == ["2.0.0", "1.0.0"]
    path.write_text("---\nname: live\ndescription: [oops\n---\n", encoding="utf-8")
    await wait_for(lambda: listed(rt)["live"]["status"] == "error", timeout=DEADLINE)
    error = listed(rt)["live"]["error"]
    assert isinstance(error, dict) and error["file"] == str(path) and error["line"] == 4
    path.write_text(md("live", "fixed", "2.0.1"), encoding="utf-8")
    await wait_for(lambda: listed(rt)["live"]["status"] == "ok", timeout=DEADLINE)
    assert listed(rt)["live"]["description"] == "fixed"
    # rename the folder: same skill at a new path; delete: gone
    moved = skills_dir / "group" / "live"
    moved.parent.mkdir()
    path.parent.rename(moved)
    await wait_for(lambda: listed(rt).get("live", {}).get("path") == str(moved / "SKILL.md"),
                     timeout=DEADLINE)
    (moved / "SKILL.md").unlink()
    await wait_for(lambda: "live" not in listed(rt), timeout=DEADLINE)
    assert rt.skills.last_counts["removed"] == 1


async def test_event_yaml_is_subscribed_when_written(skills_app: Quart, skills_dir: Path) -> None:
    rt = runtime_of(skills_app)
    (skills_dir / "e.yml").write_text("name: e\ntriggers: [{event_types: [x]}]\n", encoding="utf-8")
    await wait_for(lambda: "skill:e" in rt.bus.subscriber_names, timeout=DEADLINE)
    (skills_dir / "e.yml").unlink()
    await wait_for(lambda: "skill:e" not in rt.bus.subscriber_names, timeout=DEADLINE)


def test_temp_and_hidden_files_are_ignored() -> None:
    from watchfiles import Change

    assert relevant(Change.added, "/s/a/SKILL.md")
    assert not relevant(Change.added, "/s/a/.SKILL.md.abc.tmp")
    assert not relevant(Change.modified, "/s/a/x.yaml~")
