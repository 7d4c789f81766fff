"""Loader tables: both formats, peer frontmatter, broken files with their line, templating."""

from __future__ import annotations

from pathlib import Path

import pytest

from aman.events.model import Event, Priority
from aman.skills import loader
from aman.skills.registry import _resolve
from aman.skills.template import context_of, render


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


OPENCLAW = """---
name: gh-issues
description: Work with GitHub issues using the gh CLI
metadata: {"openclaw": {"emoji": "🐙", "requires": {"bins": ["gh"]}, "tags": ["github"]}}
user-invocable: true
---
Use `gh issue list` in {baseDir}.
"""

NANOBOT_JSON_STRING = """---
name: weather
description: Current weather and forecasts
version: 1.0
triggers: [weather, forecast]
metadata:
  nanobot: '{"requires": {"bins": ["curl"]}, "always": false}'
  hermes: {tags: [outdoors]}
disable-model-invocation: true
---
Call wttr.in.
"""

AGENT_SKILLS = """---
name: release-notes
category: engineering
description: Draft release notes from merged pull requests
triggers: ["release notes", "changelog"]
tags: [work, idle_run]
license: MIT
---
# Method
1. Collect merged PRs.
"""


def test_peer_frontmatter_samples_load(tmp_path: Path) -> None:
    one = loader.load_file(write(tmp_path / "gh-issues" / "SKILL.md", OPENCLAW), tmp_path)
    assert one.ok and one.kind == "markdown"
    assert one.metadata["openclaw"]["requires"]["bins"] == ["gh"]
    assert "github" in one.tags and str(tmp_path / "gh-issues") in one.body
    two = loader.load_file(write(tmp_path / "weather" / "SKILL.md", NANOBOT_JSON_STRING), tmp_path)
    assert two.ok and two.version == "1.0"
    assert two.metadata["nanobot"] == {"requires": {"bins": ["curl"]}, "always": False}
    assert two.disable_model_invocation and not two.llm_visible
    three = loader.load_file(write(tmp_path / "rn" / "SKILL.md", AGENT_SKILLS), tmp_path)
    assert three.ok and three.llm_visible and three.category == "engineering"
    assert three.keywords == ("release notes", "changelog") and three.body.startswith("# Method")


PEER_SKILLS = Path(__file__).resolve().parents[1] / "fixtures" / "peers" / "skills"


def test_published_peer_skills_load_and_are_model_visible_without_triggers() -> None:
    skills = {s.name: s for s in loader.load_all([PEER_SKILLS])}
    assert all(s.ok for s in skills.values()), [s.error for s in skills.values()]
    assert {n for n, s in skills.items() if s.llm_visible} == {
        "api-guide", "daily-journal", "git-digest", "pdf-forms", "weather"}
    assert not skills["secret-maker"].llm_visible  # disable-model-invocation: true
    assert skills["pdf-forms"].keywords == () and skills["pdf-forms"].index_entry()["path"] == str(
        PEER_SKILLS / "pdf-forms" / "SKILL.md")
    assert skills["weather"].metadata["openclaw"]["requires"]["bins"] == ["curl"]
    assert {"git", "summary"} <= set(skills["git-digest"].tags)
    assert skills["daily-journal"].metadata["nanobot"]["emoji"] == "\U0001f4d3"


def test_a_description_over_1024_characters_loads_with_a_warning(tmp_path: Path) -> None:
    text = "---\nname: long\ndescription: " + "x" * 1500 + "\n---\nBody\n"
    skill = loader.load_file(write(tmp_path / "long" / "SKILL.md", text), tmp_path)
    assert skill.ok and skill.error is None and len(skill.description) == 1500
    assert skill.warnings and "1500 characters" in skill.warnings[0]
    assert skill.summary(enabled=True)["warnings"] == list(skill.warnings)
    short = loader.load_file(write(tmp_path / "short" / "SKILL.md",
                                   "---\nname: short\ndescription: " + "y" * 1024 + "\n---\n"),
                             tmp_path)
    assert short.ok and short.warnings == () and "warnings" not in short.summary(enabled=True)


EVENT_SKILL = """name: inbox-check
version: 0.2.0
description: Look for unfinished work
triggers:
  - event_types: [cron_tick]
    sources: ["cron:*"]
    priorities: [normal]
concurrency: {limited: 2}
tags: [work]
actions:
  - emit:
      event_type: inbox:checked
      payload: {by: "{{ event.source }}"}
  - workflow: {name: triage}
  - tool: {name: read_file, args: {path: x}}
"""


def test_event_skill_loads_with_triggers_and_actions(tmp_path: Path) -> None:
    skill = loader.load_file(write(tmp_path / "inbox.yaml", EVENT_SKILL), tmp_path)
    assert skill.ok and skill.kind == "event" and skill.event_spec is not None
    spec = skill.event_spec
    assert [a.kind for a in spec.actions] == ["emit", "workflow", "tool"]
    assert spec.emitted_types() == ["inbox:checked"]
    hit = Event.create(source="cron:morning", event_type="cron_tick")
    assert spec.matches(hit)
    assert not spec.matches(Event.create(source="cron:x", event_type="cron_tick",
                                         priority=Priority.HIGH))
    assert not spec.matches(Event.create(source="webhook:x", event_type="cron_tick"))
    assert spec.coarse_filter().matches(hit)


@pytest.mark.parametrize(("name", "text", "line", "words"), [
    ("bad-yaml.yaml", "name: x\ntriggers: [a\nactions: []\n", 3, "invalid YAML"),
    ("not-mapping.yaml", "- just\n- a list\n", 1, "mapping"),
    ("no-name.yaml", "description: d\nactions: []\n", 1, "name"),
    ("bad-concurrency.yaml", "name: c\n\nconcurrency: sometimes\n", 3, "concurrency"),
    ("bad-action.yaml", "name: a\nactions:\n  - emit: {event_type: x}\n    tool: {name: y}\n", 2,
     "exactly one"),
    ("unknown-key.yaml", "name: u\nfoo: 1\n", 2, "foo"),
])
def test_broken_event_skills_name_file_and_line(tmp_path: Path, name: str, text: str, line: int,
                                                words: str) -> None:
    skill = loader.load_file(write(tmp_path / name, text), tmp_path)
    assert skill.status == "error" and skill.error is not None
    assert skill.error.file == str(tmp_path / name)
    assert skill.error.line == line, skill.error
    assert words in skill.error.reason


@pytest.mark.parametrize(("text", "line", "words"), [
    ("no frontmatter\n", 1, "frontmatter"),
    ("---\nname: x\ndescription: [unclosed\n---\nbody\n", 4, "invalid YAML"),
    ("---\nname: x\n---\nbody\n", 2, "description"),
    ("---\nname: Bad Name!\ndescription: d\n---\n", 2, "name"),
    ("---\nname: x\ndescription: d\nmetadata:\n  openclaw: '{broken'\n---\n", 4, "JSON"),
])
def test_broken_skill_md_names_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    skill = loader.load_file(write(tmp_path / "x" / "SKILL.md", text), tmp_path)
    assert skill.status == "error" and skill.error is not None
    assert skill.error.line == line, skill.error
    assert words in skill.error.reason
    assert skill.name == "x"


def test_discover_groups_depth_and_assets(tmp_path: Path) -> None:
    write(tmp_path / "a" / "SKILL.md", "x")
    write(tmp_path / "a" / "config.yaml", "asset: true")  # beside a SKILL.md: an asset
    write(tmp_path / "group" / "sub" / "b" / "SKILL.md", "x")
    write(tmp_path / "events" / "c.yml", "x")
    write(tmp_path / ".hidden" / "d.yaml", "x")
    deep = tmp_path.joinpath(*[f"l{i}" for i in range(8)]) / "SKILL.md"
    write(deep, "x")
    found = {p.relative_to(tmp_path).as_posix() for p in loader.discover(tmp_path)}
    assert found == {"a/SKILL.md", "group/sub/b/SKILL.md", "events/c.yml"}
    assert loader.discover(tmp_path / "missing") == []


def test_later_folder_wins_and_reports_shadowed(tmp_path: Path) -> None:
    repo, home = tmp_path / "repo", tmp_path / "home"
    write(repo / "s" / "SKILL.md", "---\nname: s\ndescription: repo\n---\n")
    write(home / "s" / "SKILL.md", "---\nname: s\ndescription: home\n---\n")
    resolved = _resolve(loader.load_all([repo, home]))
    assert resolved["s"].description == "home"
    assert resolved["s"].shadowed == (str(repo / "s" / "SKILL.md"),)


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ payload.text }}", "/ping hi"),
    ("{{payload.n}}", 3),
    ("n={{ payload.n }} from {{ event.source }}", "n=3 from chat:t"),
    ("{{ payload.nested.list.1 }}", "b"),
    ("{{ payload.missing.x }}", None),
    ("x{{ payload.missing }}y", "xy"),
    ({"a": ["{{ event.event_type }}", 1]}, {"a": ["message_received", 1]}),
    ("{{ __import__('os') }}", "{{ __import__('os') }}"),
])
def test_templating(template: object, expected: object) -> None:
    event = Event.create(source="chat:t", event_type="message_received",
                         payload={"text": "/ping hi", "n": 3, "nested": {"list": ["a", "b"]}})
    assert render(template, context_of(event)) == expected


def test_whole_metadata_may_be_a_json_string(tmp_path: Path) -> None:
    text = ("---\nname: j\ndescription: d\n"
            "metadata: '{\"hermes\": {\"tags\": [\"t1\"]}, "
            "\"nanobot\": \"{\\\"always\\\": true}\"}'\n"
            "---\n")
    skill = loader.load_file(write(tmp_path / "j" / "SKILL.md", text), tmp_path)
    assert skill.ok, skill.error
    assert skill.metadata["hermes"] == {"tags": ["t1"]} and skill.tags == ("t1",)
    assert skill.metadata["nanobot"] == {"always": True}


def test_limited_concurrency_and_match_any(tmp_path: Path) -> None:
    text = ("name: lim\nconcurrency: {limited: 2}\ntriggers:\n"
            "  - {event_types: [a], sources: [\"x:*\"], match_all: false}\n")
    skill = loader.load_file(write(tmp_path / "lim.yaml", text), tmp_path)
    assert skill.ok and skill.event_spec is not None
    assert skill.summary(enabled=True)["concurrency"] == {"limited": 2}
    assert skill.event_spec.matches(Event.create(source="y:1", event_type="a"))
    assert skill.event_spec.matches(Event.create(source="x:1", event_type="b"))
    assert not skill.event_spec.matches(Event.create(source="y:1", event_type="b"))
    assert skill.event_spec.coarse_filter().event_types is None
