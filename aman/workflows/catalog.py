"""WorkflowCatalog: the workflow definitions, from watched folders and from code, with versions.

Every distinct definition content is recorded with a version, so a running instance keeps the
definition it started with after its file changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from aman.clock import Clock
from aman.events.filters import payload_matches
from aman.events.model import Event
from aman.workflows.definition import WorkflowDefinition
from aman.workflows.errors import WorkflowInvalidError, WorkflowNotFoundError
from aman.workflows.loader import LoadedFile, load_folders
from aman.workflows.model import WorkflowRepository

log = logging.getLogger(__name__)

#: Events naming an instance go to that instance, never to a start_on trigger.
INSTANCE_KEY = "workflow_instance_id"


class WorkflowCatalog:
    """The loaded definitions by name, the built-in ones, and every stored version by hash."""

    def __init__(self, repo: WorkflowRepository, clock: Clock, dirs: list[Path]) -> None:
        self._repo = repo
        self._clock = clock
        self.dirs = list(dirs)
        self._files: list[LoadedFile] = []
        self._current: dict[str, tuple[WorkflowDefinition, str, int]] = {}  # name → (def, hash, v)
        #: Every definition seen, by content hash (instances look theirs up here).
        self.by_hash: dict[str, WorkflowDefinition] = {}
        self._reload_lock = asyncio.Lock()
        self._builtin: dict[str, WorkflowDefinition] = {}

    async def reload(self, *, reason: str = "manual") -> dict[str, int]:
        """Re-read every folder; record new definition versions; running instances keep theirs."""
        async with self._reload_lock:
            files = await asyncio.to_thread(load_folders, self.dirs)
            current: dict[str, tuple[WorkflowDefinition, str, int]] = {}
            files = [self._refuse_reserved(f) for f in files]
            for definition in self._builtin.values():
                digest = definition.content_hash()
                version = await self._repo.record_definition(
                    definition.name, digest, definition.to_json(), None, self._clock.now_ms())
                current[definition.name] = (definition, digest, version)
                self.by_hash[digest] = definition
            for loaded in files:
                if loaded.status != "loaded" or loaded.definition is None:
                    continue
                definition, digest = loaded.definition, loaded.definition.content_hash()
                version = await self._repo.record_definition(
                    definition.name, digest, definition.to_json(), str(loaded.path),
                    self._clock.now_ms())
                current[definition.name] = (definition, digest, version)
                self.by_hash[digest] = definition
            self._files, self._current = files, current
        invalid = [f for f in files if f.status == "invalid"]
        for bad in invalid:
            log.warning("workflow file not loaded: %s", bad.error)
        log.info("workflows %s: %d loaded, %d invalid", reason, len(current), len(invalid))
        return {"loaded": len(current), "invalid": len(invalid)}

    def register_builtin(self, definition: WorkflowDefinition) -> None:
        """A definition that ships in code (chat's ``message-session``); loaded on every reload."""
        self._builtin[definition.name] = definition

    def _refuse_reserved(self, loaded: LoadedFile) -> LoadedFile:
        if loaded.name in self._builtin and loaded.status == "loaded":
            return LoadedFile(loaded.name, loaded.path, "invalid", error=(
                f"{loaded.path}: name: {loaded.name!r} is a built-in workflow; choose another"))
        return loaded

    def listing(self) -> list[dict[str, Any]]:
        """Every definition file: name, description, states, status and error."""
        items = [{"name": d.name, "status": "loaded", "error": None, "description": d.description,
                  "states": d.states, "path": None, "builtin": True,
                  "version": self._current[d.name][2] if d.name in self._current else None}
                 for d in self._builtin.values()]
        for loaded in self._files:
            definition = loaded.definition
            entry = self._current.get(loaded.name)
            items.append({
                "name": loaded.name, "status": loaded.status, "error": loaded.error,
                "description": definition.description if definition else "",
                "states": definition.states if definition else [],
                "path": str(loaded.path),
                "version": entry[2] if entry and loaded.status == "loaded" else None,
            })
        return items

    def definition(self, name: str) -> tuple[WorkflowDefinition, str, int]:
        """The current (definition, hash, version) of ``name``; 404 or 409 when not loadable."""
        found = self._current.get(name)
        if found is not None:
            return found
        broken = next((f for f in self._files if f.name == name and f.status == "invalid"), None)
        if broken is not None:
            raise WorkflowInvalidError(f"workflow {name!r} did not load: {broken.error}")
        known = ", ".join(sorted(self._current)) or "none"
        raise WorkflowNotFoundError(f"workflow not found: {name} (loaded: {known})")

    def triggers_for(self, event: Event) -> Iterator[WorkflowDefinition]:
        """Definitions whose ``start_on`` matches ``event`` (never their own events)."""
        if INSTANCE_KEY in event.payload or event.source.startswith("workflow:"):
            return
        for definition, _, _ in self._current.values():
            for trigger in definition.start_on:
                if (fnmatchcase(event.event_type, trigger.event)
                        and (trigger.source is None or fnmatchcase(event.source, trigger.source))
                        and payload_matches(trigger.match, event.payload)):
                    yield definition
                    break
