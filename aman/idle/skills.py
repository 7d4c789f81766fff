"""Which skills are idle skills, the work queue, and the text an idle run sends.

An idle skill is a valid, enabled skill tagged ``idle_run`` plus at least one other tag (study,
fun, work, or any other); the other tags are what ``POST /idle-run`` and the scheduler ask for.
Its ``idle_prompts`` say what to do this time; its body (a SKILL.md's instructions) says how.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aman.config.reach import WorkItem
    from aman.skills.model import Skill

#: The tag that makes a skill an idle skill.
IDLE_TAG = "idle_run"
#: The tag whose runs need a work item (and whose availability needs a non-empty queue).
WORK_TAG = "work"
#: Tags the availability route always answers for.
REPORTED_TAGS = ("work", "study", "fun")
#: Markers around the skill body, so the model can tell the method from the request.
METHOD_START = "<<<METHODOLOGY {name}>>>"
METHOD_END = "<<<END METHODOLOGY>>>"
FOLLOW_ALL = ("Follow all stages of the methodology above, in order, without waiting for the "
              "user, and end with a short report of what you did.")


class SkillCatalog(Protocol):
    """The part of ``SkillService`` idle runs read."""

    def listing(self) -> list[dict[str, Any]]:
        """Every skill's summary (name, tags, enabled, status)."""
        ...

    def get(self, name: str) -> Skill:
        """One skill by name."""
        ...


@dataclass(frozen=True)
class IdleSkill:
    """An idle skill as a run needs it."""

    name: str
    description: str
    body: str
    prompts: tuple[str, ...]
    tags: frozenset[str]


def idle_skills(catalog: SkillCatalog, *, allowed: Iterable[str] | None = None) -> list[IdleSkill]:
    """Valid, enabled skills tagged ``idle_run``, by name; ``allowed`` limits them (an agent's
    ``skills`` list)."""
    permitted = set(allowed) if allowed is not None else None
    found = []
    for item in catalog.listing():
        tags = {str(tag).lower() for tag in item.get("tags", ())}
        if IDLE_TAG not in tags or not item.get("enabled") or item.get("status") != "ok":
            continue
        if permitted is not None and item["name"] not in permitted:
            continue
        skill = catalog.get(item["name"])
        found.append(IdleSkill(skill.name, skill.description, skill.body.strip(),
                               tuple(skill.idle_prompts), frozenset(tags - {IDLE_TAG})))
    return found


def tags_of(skills: Iterable[IdleSkill]) -> list[str]:
    """Every tag some idle skill answers to, sorted."""
    return sorted({tag for skill in skills for tag in skill.tags})


def open_work(queue: Iterable[WorkItem], agent_id: str) -> list[WorkItem]:
    """Work items not done that ``agent_id`` may take (its own or anyone's), in queue order."""
    return [item for item in queue if not item.done and item.agent_id in (None, agent_id)]


def find_work(queue: Iterable[WorkItem], project_key: str, work_id: str) -> WorkItem | None:
    """The queue's item with that project and id, if any."""
    return next((i for i in queue if i.project == project_key and i.id == work_id), None)


def pick_prompt(skill: IdleSkill, rng: random.Random) -> str | None:
    """One of the skill's prompts at random, or None when it has none."""
    return rng.choice(skill.prompts) if skill.prompts else None


def compose(skill: IdleSkill, prompt: str | None, *, agent_id: str,
            work: WorkItem | None = None, project_key: str | None = None,
            work_id: str | None = None) -> str:
    """The message an idle run sends: the ``[IDLE ACTION]`` header, the work item, the method.

    ``{agent_id}`` (and for work runs ``{work_title}``, ``{project_key}``, ``{work_id}``) in the
    prompt are replaced; without a prompt the header asks to execute the skill by name.
    """
    values = {"agent_id": agent_id, "work_title": work.title if work else "",
              "project_key": project_key or "", "work_id": work_id or ""}
    if prompt:
        header = _substitute(prompt, values).strip()
    else:
        header = f"execute skill {skill.name}: {skill.description}"
    parts = [f"[IDLE ACTION] {header}"]
    if project_key and work_id:
        title = f": {work.title}" if work is not None else ""
        parts.append(f"Work item {project_key}/{work_id}{title}")
    if skill.body:
        parts.append("\n".join((METHOD_START.format(name=skill.name), skill.body, METHOD_END)))
        parts.append(FOLLOW_ALL)
    return "\n\n".join(parts)


def pick_tag(weights: dict[str, float], available: Sequence[str] | set[str],
             rng: random.Random) -> str | None:
    """A tag by ``weights`` among those ``available`` with a positive weight; None if none."""
    candidates = [(tag, weight) for tag, weight in sorted(weights.items())
                  if tag in available and weight > 0]
    if not candidates:
        return None
    tags = [tag for tag, _ in candidates]
    chances = [weight for _, weight in candidates]
    return rng.choices(tags, weights=chances, k=1)[0]


def _substitute(text: str, values: dict[str, str]) -> str:
    # str.replace, not str.format: prompts are free text and may hold other braces.
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
