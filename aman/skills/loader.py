"""Find skill files under folders and parse each into a ``Skill``; errors name file and line.

Layout: ``<dir>/<name>/SKILL.md`` (grouped sub-folders allowed, up to ``MAX_DEPTH`` levels) and
``*.yaml`` / ``*.yml`` event skills anywhere below a folder. A folder holding a SKILL.md is that
skill's own: files beside it (assets, configs) are not skills. Hidden entries are skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from aman.skills.model import (
    NAME_PATTERN,
    EventSkillSpec,
    MarkdownSkillSpec,
    Skill,
    SkillError,
    SkillKind,
    description_warnings,
)

S = TypeVar("S", bound=BaseModel)

SKILL_FILE = "SKILL.md"
YAML_SUFFIXES = (".yaml", ".yml")
MAX_DEPTH = 6
_FENCE = re.compile(r"^---[ \t]*$")
#: libyaml when present (10x faster on hundreds of files); same safe subset of YAML.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: path -> ((mtime_ns, size), parsed skill): files that did not change are not parsed again.
ParseCache = dict[Path, tuple[tuple[int, int], Skill]]


def discover(root: Path) -> list[Path]:
    """Skill files under ``root``, sorted; a missing root has none."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    base_depth = len(root.parts)
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if SKILL_FILE in files:
            found.append(here / SKILL_FILE)
            dirs[:] = []  # the skill's own folder: assets, not skills
            continue
        found.extend(here / f for f in sorted(files)
                     if f.endswith(YAML_SUFFIXES) and not f.startswith("."))
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirs[:] = []
    return sorted(found)


def content_hash(content: str) -> str:
    """The sha256 of a skill file's text."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def load_all(roots: Iterable[Path], cache: ParseCache | None = None) -> list[Skill]:
    """Every skill file under ``roots``, in root order (blocking: run it off the loop).

    With a ``cache``, a file whose mtime and size are unchanged is not read again; the cache is
    updated in place and forgets files that are gone.
    """
    skills: list[Skill] = []
    seen: set[Path] = set()
    for root in roots:
        for path in discover(root):
            seen.add(path)
            if cache is None:
                skills.append(load_file(path, root))
                continue
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                stamp = (-1, -1)
            cached = cache.get(path)
            if cached is not None and cached[0] == stamp and cached[1].root == root:
                skills.append(cached[1])
                continue
            skill = load_file(path, root)
            cache[path] = (stamp, skill)
            skills.append(skill)
    if cache is not None:
        for gone in set(cache) - seen:
            del cache[gone]
    return skills


def load_file(path: Path, root: Path) -> Skill:
    """Parse one file; never raises for bad content: the skill comes back with status error."""
    kind: SkillKind = "markdown" if path.name == SKILL_FILE else "event"
    fallback = path.parent.name if kind == "markdown" else path.stem
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _broken(fallback, kind, path, root, "", None, f"cannot read the file: {exc}")
    if kind == "markdown":
        return _load_markdown(path, root, content, fallback)
    return _load_event(path, root, content, fallback)


def _broken(name: str, kind: SkillKind, path: Path, root: Path, content: str, line: int | None,
            reason: str) -> Skill:
    return Skill(name=name, kind=kind, path=path, root=root, content=content,
                 content_hash=content_hash(content), status="error",
                 error=SkillError(str(path), line, reason))


def split_frontmatter(content: str) -> tuple[str, str, int] | None:
    """``(frontmatter, body, body_line)`` of a ``---`` fenced header, or None if there is none."""
    lines = content.splitlines(keepends=True)
    if not lines or not _FENCE.match(lines[0].rstrip("\r\n")):
        return None
    for index in range(1, len(lines)):
        if _FENCE.match(lines[index].rstrip("\r\n")):
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    return None


def _validated(model: type[S], data: dict[str, Any], text: str, line_offset: int, fallback: str,
               kind: SkillKind, path: Path, root: Path, content: str) -> S | Skill:
    """The validated spec, or a broken Skill naming the first bad field and its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        line, reason = _first_error(exc, text, line_offset=line_offset)
        return _broken(_usable_name(data, fallback), kind, path, root, content, line, reason)


def _load_markdown(path: Path, root: Path, content: str, fallback: str) -> Skill:
    parts = split_frontmatter(content)
    if parts is None:
        return _broken(fallback, "markdown", path, root, content, 1,
                       "SKILL.md must start with YAML frontmatter between '---' lines")
    header, body, _ = parts
    data, error = _parse_yaml(header, line_offset=1)
    if error is not None:
        return _broken(fallback, "markdown", path, root, content, *error)
    if not isinstance(data, dict):
        return _broken(fallback, "markdown", path, root, content, 2,
                       "the frontmatter must be a mapping of keys to values")
    spec = _validated(MarkdownSkillSpec, data, header, 1, fallback, "markdown", path, root, content)
    if isinstance(spec, Skill):
        return spec
    metadata = spec.metadata
    tags = list(spec.tags)
    prompts = list(spec.idle_prompts)
    for vendor in metadata.values():  # peer blocks may carry tags (and idle prompts) too
        if isinstance(vendor, dict) and isinstance(vendor.get("tags"), list):
            tags.extend(str(t) for t in vendor["tags"] if str(t) not in tags)
        if isinstance(vendor, dict) and isinstance(vendor.get("idle_prompts"), list):
            prompts.extend(str(p) for p in vendor["idle_prompts"] if str(p) not in prompts)
    return Skill(
        name=spec.name, kind="markdown", path=path, root=root, content=content,
        content_hash=content_hash(content), description=spec.description, version=spec.version,
        category=spec.category, tags=tuple(tags), metadata=metadata,
        body=body.replace("{baseDir}", str(path.parent)), keywords=tuple(spec.triggers),
        user_invocable=spec.user_invocable, disable_model_invocation=spec.disable_model_invocation,
        idle_prompts=tuple(prompts), warnings=description_warnings(spec.description),
    )


def _load_event(path: Path, root: Path, content: str, fallback: str) -> Skill:
    data, error = _parse_yaml(content, line_offset=0)
    if error is not None:
        return _broken(fallback, "event", path, root, content, *error)
    if not isinstance(data, dict):
        return _broken(fallback, "event", path, root, content, 1,
                       "an event skill must be a YAML mapping (name, triggers, actions, ...)")
    spec = _validated(EventSkillSpec, data, content, 0, fallback, "event", path, root, content)
    if isinstance(spec, Skill):
        return spec
    return Skill(
        name=spec.name, kind="event", path=path, root=root, content=content,
        content_hash=content_hash(content), description=spec.description, version=spec.version,
        tags=tuple(spec.tags), metadata=spec.metadata, event_spec=spec,
        idle_prompts=tuple(spec.idle_prompts), warnings=description_warnings(spec.description),
    )


def _usable_name(data: dict[str, Any], fallback: str) -> str:
    """The declared name if it is valid, else the folder or file name (for a broken file)."""
    name = data.get("name")
    return name if isinstance(name, str) and re.match(NAME_PATTERN, name) else fallback


def _parse_yaml(text: str, *, line_offset: int) -> tuple[Any, tuple[int | None, str] | None]:
    try:
        return yaml.load(text, Loader=_YAML_LOADER), None  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 + line_offset if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, (line, f"invalid YAML: {problem}")


def _first_error(exc: ValidationError, text: str, *, line_offset: int) -> tuple[int | None, str]:
    """The line of the first failing top-level key and a message naming the field path."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    where = ".".join(loc) or "(root)"
    reason = f"{where}: {first['msg']}"
    if len(exc.errors()) > 1:
        reason += f" (and {len(exc.errors()) - 1} more)"
    line = None
    if loc:
        key = re.compile(rf"^{re.escape(loc[0])}\s*:")
        for index, raw in enumerate(text.splitlines()):
            if key.match(raw):
                line = index + 1 + line_offset
                break
    return (line if line is not None else 1 + line_offset), reason
