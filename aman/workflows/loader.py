"""Read workflow definitions from folders; each file is valid, invalid (with its error) or shadowed.

A broken file never stops the others from loading. The same name twice in one folder is an error
on the later file; a later folder (the runtime dir) overrides an earlier one (the repo's
``config/workflows``), and the overridden file is listed as shadowed, as skills do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from aman.workflows.definition import WorkflowDefinition

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedFile:
    """The outcome for one definition file."""

    name: str
    path: Path
    status: Literal["loaded", "invalid", "shadowed"]
    definition: WorkflowDefinition | None = None
    error: str | None = None

    @property
    def content_hash(self) -> str | None:
        """The definition's hash when it loaded."""
        return self.definition.content_hash() if self.definition else None


def load_folders(dirs: list[Path]) -> list[LoadedFile]:
    """Every definition file in ``dirs`` (later folders win), sorted by name then path."""
    results: list[LoadedFile] = []
    winners: dict[str, int] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        in_folder: dict[str, Path] = {}
        for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()
                           and not p.name.startswith(".")):
            loaded = load_file(path)
            if loaded.status == "loaded" and loaded.name in in_folder:
                loaded = LoadedFile(loaded.name, path, "invalid", error=(
                    f"{path}: name: duplicate workflow name {loaded.name!r}, already defined in "
                    f"{in_folder[loaded.name].name}; rename one of them"))
            if loaded.status == "loaded":
                in_folder[loaded.name] = path
                earlier = winners.get(loaded.name)
                if earlier is not None:
                    old = results[earlier]
                    results[earlier] = LoadedFile(old.name, old.path, "shadowed", old.definition,
                                                  f"overridden by {path}")
                winners[loaded.name] = len(results)
            results.append(loaded)
    return sorted(results, key=lambda r: (r.name, str(r.path)))


def load_file(path: Path) -> LoadedFile:
    """Parse and validate one file; errors name the file, the field and the problem."""
    fallback_name = path.stem
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return LoadedFile(fallback_name, path, "invalid",
                          error=f"{path}: not valid YAML{where}: {problem}")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedFile(fallback_name, path, "invalid", error=f"{path}: cannot be read: {exc}")
    if not isinstance(raw, dict):
        return LoadedFile(fallback_name, path, "invalid",
                          error=f"{path}: must hold a mapping with name, states, transitions, ...")
    raw_name = raw.get("name")
    name = raw_name if isinstance(raw_name, str) else fallback_name
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        return LoadedFile(name, path, "invalid", error=f"{path}: {describe(exc)}")
    return LoadedFile(definition.name, path, "loaded", definition)


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field.path: problem`` joined by semicolons."""
    problems = []
    for error in exc.errors():
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"])
        loc = loc.replace(".[", "[")
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field; see docs/workflows.md for the allowed ones"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append(f"{loc}: {message}" if loc else message)
    return "; ".join(problems)
