"""SkillService: the loaded skills, their state, search, versions, rollback and reloads.

Precedence: folders are read in order and a later folder wins a name clash, so the runtime dir
(last in ``skills.dirs`` by default) overrides the repo's ``skills/``; folders plugins add come
first (lowest). The losers are kept in the winner's ``shadowed`` list. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aman.clock import Clock
from aman.errors import ConflictError, InvalidInputError, NotFoundError
from aman.events.bus import EventBus
from aman.events.model import Event
from aman.events.types import SKILL_RELOADED, EventTypeRegistry
from aman.files import write_atomically
from aman.skills import loader
from aman.skills.model import IndexEntry, Skill, SkillRepository
from aman.skills.runner import EventSkillRunner, StepRecorder

log = logging.getLogger(__name__)

SKILLS_SOURCE = "system:skills"


class UnknownSkillError(NotFoundError):
    """No skill by that name."""

    code = "skill_not_found"
    hint = "GET /skills lists the loaded skills; a new file shows up after POST /skills/reload."


class SkillNotRunnableError(ConflictError):
    """A skill was asked to run but cannot (disabled, broken, or not an event skill)."""

    code = "skill_not_runnable"
    hint = "GET /skill/{name} shows its kind, status and error."


class SkillService:
    """Loads skills from folders and keeps everything derived from them current."""

    def __init__(self, repo: SkillRepository, bus: EventBus, steps: StepRecorder,
                 types: EventTypeRegistry, clock: Clock, dirs: list[Path]) -> None:
        self._repo = repo
        self._bus = bus
        self._clock = clock
        self._base_dirs = list(dirs)
        self._plugin_dirs: dict[str, list[Path]] = {}
        self._skills: dict[str, Skill] = {}
        self._parsed: loader.ParseCache = {}
        self._disabled: set[str] = set()
        self._latest: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._started = False
        self._pending: asyncio.Task[dict[str, int]] | None = None
        self.runner = EventSkillRunner(bus, steps, types)
        #: Called when the folder list changes (the watcher restarts on it).
        self.on_dirs_changed: Callable[[], None] | None = None
        self.last_counts: dict[str, int] = {}
        #: The folder watcher while running (set at boot; see aman.skills.watcher).
        self.watcher: Any = None

    # --- folders -------------------------------------------------------------------------

    @property
    def dirs(self) -> list[Path]:
        """Every folder read, lowest precedence first."""
        extra = [d for dirs in self._plugin_dirs.values() for d in dirs]
        return [*extra, *self._base_dirs]

    def add_dirs(self, dirs: list[Path], owner: str) -> None:
        """Add skill folders on behalf of ``owner`` (a plugin); reloads when running."""
        self._plugin_dirs[owner] = [Path(d) for d in dirs]
        self._dirs_changed()

    def remove_dirs(self, owner: str) -> None:
        """Forget the folders ``owner`` added."""
        if self._plugin_dirs.pop(owner, None) is not None:
            self._dirs_changed()

    def _dirs_changed(self) -> None:
        if self.on_dirs_changed is not None:
            self.on_dirs_changed()
        if self._started:
            self._pending = asyncio.get_running_loop().create_task(
                self.reload(reason="dirs_changed"), name="skills:reload")

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> dict[str, int]:
        """Read state from the store and load every folder."""
        self._disabled = await self._repo.disabled()
        self._latest = await self._repo.latest_hashes()
        self._skills = {}
        self._parsed = {}
        self._started = True
        return await self.reload(reason="boot")

    async def stop(self) -> None:
        """Unsubscribe every event skill."""
        self._started = False
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)
        self._pending = None
        self.runner.clear()

    async def reload(self, *, reason: str = "manual") -> dict[str, int]:
        """Re-read every folder; record new contents, re-index, resubscribe, emit counts."""
        async with self._lock:
            found = await asyncio.to_thread(loader.load_all, self.dirs, self._parsed)
            fresh = _resolve(found)
            old = self._skills
            counts = {
                "loaded": sum(1 for s in fresh.values() if s.ok),
                "added": sum(1 for n in fresh if n not in old),
                "changed": sum(1 for n, s in fresh.items()
                               if n in old and old[n].content_hash != s.content_hash),
                "removed": sum(1 for n in old if n not in fresh),
                "errors": sum(1 for s in fresh.values() if not s.ok),
            }
            now = self._clock.now_ms()
            new_versions = [(s.name, s.content_hash, s.version, str(s.path), s.content)
                            for s in fresh.values()
                            if s.ok and self._latest.get(s.name) != s.content_hash]
            await self._repo.record_versions(new_versions, now)
            for name, digest, *_ in new_versions:
                self._latest[name] = digest
            if reason == "boot":
                await self._repo.reindex([_index_entry(s) for s in fresh.values() if s.ok])
            else:
                stale = [n for n in set(old) | set(fresh) if n not in fresh or n not in old
                         or old[n].content_hash != fresh[n].content_hash
                         or old[n].ok != fresh[n].ok]
                await self._repo.reindex([_index_entry(fresh[n]) for n in stale
                                          if n in fresh and fresh[n].ok], only=stale)
            self._skills = fresh
            self._sync_runner()
            self.last_counts = counts
        changed = counts["added"] or counts["changed"] or counts["removed"]
        # Boot is not a reload, and a watch round that found nothing new is not news.
        if reason != "boot" and (changed or reason != "watch"):
            self._bus.emit(SKILL_RELOADED, {**counts, "reason": reason}, source=SKILLS_SOURCE)
        log.info("skills reloaded (%s): %s", reason, counts)
        return counts

    def _sync_runner(self) -> None:
        if not self._started:
            return
        self.runner.sync({name: s for name, s in self._skills.items()
                          if s.ok and s.kind == "event" and name not in self._disabled})

    # --- reading -------------------------------------------------------------------------

    def get(self, name: str) -> Skill:
        """The skill called ``name``; ``UnknownSkillError`` if none."""
        skill = self._skills.get(name)
        if skill is None:
            raise UnknownSkillError(f"no skill named {name!r}")
        return skill

    async def invoke(self, name: str, event: Event) -> None:
        """Run event skill ``name``'s actions for ``event`` now (a workflow's ``skill`` action)."""
        skill = self.get(name)
        if not self.enabled(name):
            raise SkillNotRunnableError(f"skill {name!r} is disabled",
                                        hint=f"POST /skill/{name}/enable, then retry.")
        if not skill.ok or skill.event_spec is None:
            why = (f"does not load: {skill.error.reason if skill.error else skill.status}"
                   if not skill.ok else "is an LLM skill; only event (YAML) skills can run here")
            raise SkillNotRunnableError(f"skill {name!r} {why}")
        await self.runner.run(skill, skill.event_spec, event)

    def enabled(self, name: str) -> bool:
        """Whether ``name`` is switched on."""
        return name not in self._disabled

    def listing(self) -> list[dict[str, Any]]:
        """Every skill (valid or not), sorted by name."""
        return [self._skills[n].summary(enabled=self.enabled(n)) for n in sorted(self._skills)]

    def snapshot(self, name: str) -> dict[str, Any]:
        """One skill in full."""
        return self.get(name).snapshot(enabled=self.enabled(name))

    def llm_visible(self, allowed: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """``{name, description, category, triggers, path}`` of skills the model may invoke;
        ``allowed`` (an agent's ``skills`` list) limits them, None allows all."""
        permitted = set(allowed) if allowed is not None else None
        return [s.index_entry() for n, s in sorted(self._skills.items())
                if s.llm_visible and self.enabled(n) and (permitted is None or n in permitted)]

    async def search(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        """Ranked full-text matches over name, description, tags and body."""
        if not text.strip():
            raise InvalidInputError("query.q: must not be empty", details={"fields": [
                {"path": "query.q", "message": "must not be empty", "type": "missing"}]})
        hits = await self._repo.search(text, limit)
        items = []
        for hit in hits:
            skill = self._skills.get(hit["name"])
            if skill is not None:
                items.append({**hit, "version": skill.version, "description": skill.description,
                              "kind": skill.kind, "enabled": self.enabled(skill.name)})
        return items

    # --- changing ------------------------------------------------------------------------

    async def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Switch a skill on or off (persisted); returns its summary."""
        skill = self.get(name)
        await self._repo.set_enabled(name, enabled, self._clock.now_ms())
        (self._disabled.discard if enabled else self._disabled.add)(name)
        self._sync_runner()
        return skill.summary(enabled=enabled)

    async def versions(self, name: str) -> list[dict[str, Any]]:
        """Every distinct content seen, newest first."""
        skill = self.get(name)
        rows = await self._repo.versions(name)
        return [row.to_json(current=row.hash == skill.content_hash) for row in rows]

    async def rollback(self, name: str, *, version: str | None = None,
                       hash_: str | None = None) -> dict[str, Any]:
        """Write an earlier content back to the skill's file atomically, then reload."""
        skill = self.get(name)
        rows = await self._repo.versions(name)
        if hash_ is not None:
            match = next((r for r in rows if r.hash == hash_ or
                          (len(hash_) >= 8 and r.hash.startswith(hash_))), None)
            wanted = f"hash {hash_!r}"
        else:
            match = next((r for r in rows if r.version == version), None)
            wanted = f"version {version!r}"
        if match is None:
            raise NotFoundError(f"skill {name!r} has no {wanted}",
                                hint=f"GET /skill/{name}/versions lists what can be restored.")
        await asyncio.to_thread(write_atomically, skill.path, match.content)
        await self.reload(reason="rollback")
        return {"name": name, "restored": match.to_json(current=True), "path": str(skill.path),
                "previous_hash": skill.content_hash}


def _resolve(found: list[Skill]) -> dict[str, Skill]:
    """Later files win a name; each winner lists the paths it shadows."""
    winners: dict[str, Skill] = {}
    shadowed: dict[str, list[str]] = {}
    for skill in found:
        previous = winners.get(skill.name)
        if previous is not None:
            shadowed.setdefault(skill.name, []).append(str(previous.path))
        winners[skill.name] = skill
    for name, paths in shadowed.items():
        skill = winners[name]
        winners[name] = replace(skill, shadowed=tuple(paths))
    return winners


def _index_entry(skill: Skill) -> IndexEntry:
    tags = list(skill.tags)
    if skill.event_spec is not None:  # an event skill is also found by what it reacts to
        tags.extend(t for trigger in skill.event_spec.triggers for t in trigger.event_types)
    tags.extend(skill.keywords)
    return IndexEntry(skill.name, skill.description, " ".join(tags), skill.body)
