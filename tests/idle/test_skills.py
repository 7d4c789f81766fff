"""Idle skills: idle_prompts in both skill formats, the composed message, tags and the queue."""

from __future__ import annotations

import random
from pathlib import Path

from aman.config.reach import WorkItem
from aman.idle.skills import (
    FOLLOW_ALL,
    IdleSkill,
    compose,
    find_work,
    open_work,
    pick_prompt,
    pick_tag,
)
from aman.skills.loader import load_all, load_file

REPO_SKILLS = Path(__file__).resolve().parents[2] / "skills"
SKILL = IdleSkill("idle-x", "Do x.", "1. step one\n2. step two", ("Hi {agent_id} {other}",),
                  frozenset({"study"}))


def test_idle_prompts_load_from_frontmatter_peer_metadata_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "SKILL.md").write_text(
        "---\nname: a\ndescription: A.\ntags: [idle_run, fun]\nidle_prompts: [one]\n"
        "metadata:\n  aman: {idle_prompts: [two]}\n---\nBody\n")
    (tmp_path / "b.yaml").write_text("name: b\ntags: [idle_run, work]\nidle_prompts: [three]\n")
    skills = {s.name: s for s in load_all([tmp_path])}
    assert skills["a"].idle_prompts == ("one", "two")
    assert skills["b"].idle_prompts == ("three",)
    assert skills["a"].snapshot(enabled=True)["idle_prompts"] == ["one", "two"]
    (tmp_path / "c.yaml").write_text("name: c\n")
    assert "idle_prompts" not in load_file(tmp_path / "c.yaml", tmp_path).snapshot(enabled=True)


def test_the_shipped_idle_skills_load_with_prompts_and_bodies() -> None:
    idle = [s for s in load_all([REPO_SKILLS / "idle"]) if "idle_run" in s.tags]
    assert {tag for s in idle for tag in s.tags} >= {"study", "fun", "work"}
    for skill in idle:
        assert skill.ok, skill.error
        assert skill.idle_prompts and len(skill.body) > 400
        assert not skill.llm_visible  # run when idle, not offered in every chat prompt


def test_compose_puts_the_prompt_then_the_method_between_markers() -> None:
    text = compose(SKILL, "Hi {agent_id} {other}", agent_id="aman")
    assert text.startswith("[IDLE ACTION] Hi aman {other}\n\n")
    assert "<<<METHODOLOGY idle-x>>>\n1. step one\n2. step two\n<<<END METHODOLOGY>>>" in text
    assert text.endswith(FOLLOW_ALL)


def test_compose_without_a_prompt_asks_to_execute_the_skill() -> None:
    text = compose(IdleSkill("y", "Say y.", "", (), frozenset()), None, agent_id="aman")
    assert text == "[IDLE ACTION] execute skill y: Say y."


def test_compose_names_the_work_item() -> None:
    item = WorkItem(id="w1", project="p", title="Write it")
    text = compose(SKILL, "{work_title} in {project_key}/{work_id}", agent_id="a", work=item,
                   project_key="p", work_id="w1")
    assert text.startswith("[IDLE ACTION] Write it in p/w1\n\nWork item p/w1: Write it\n\n")


def test_open_work_skips_done_and_other_agents_items() -> None:
    queue = [WorkItem(id="a", project="p", title="A", done=True),
             WorkItem(id="b", project="p", title="B", agent_id="bob"),
             WorkItem(id="c", project="p", title="C")]
    assert [i.id for i in open_work(queue, "aman")] == ["c"]
    assert [i.id for i in open_work(queue, "bob")] == ["b", "c"]
    assert find_work(queue, "p", "a") is queue[0] and find_work(queue, "p", "z") is None


def test_pick_tag_follows_weights_among_available_tags() -> None:
    rng = random.Random(7)
    weights = {"study": 1.0, "fun": 3.0, "work": 5.0, "nap": 0.0}
    picks = [pick_tag(weights, {"study", "fun", "nap"}, rng) for _ in range(400)]
    assert set(picks) == {"study", "fun"}
    assert 0.6 < picks.count("fun") / len(picks) < 0.9
    assert pick_tag(weights, {"nap"}, rng) is None
    assert pick_tag(weights, set(), rng) is None
    assert pick_prompt(SKILL, rng) == "Hi {agent_id} {other}"
    assert pick_prompt(IdleSkill("z", "", "", (), frozenset()), rng) is None
