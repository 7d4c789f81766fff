"""File tools: ``read``, ``write``, ``edit``, ``list``, ``find``, ``grep``, ``read_skill``.

Every path goes through ``aman.tools.workspace.resolve``, so nothing outside the workspace and
``tools.roots`` is touched; writes and edits also pass the hardline path check first (their
guard), which no approval can lift. Disk work runs in a thread so the loop stays responsive.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aman.errors import AmanError
from aman.parsing import regex_pattern
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput, cap
from aman.tools.workspace import PathNotAllowedError, display, resolve

#: grep skips files larger than this: logs of gigabytes would stall the call for little use.
GREP_MAX_FILE_BYTES = 5 * 1024 * 1024
#: A matched line is cut to this many characters in the result (minified files have huge lines).
GREP_MAX_LINE_CHARS = 400
#: Bytes sniffed for a NUL to decide a file is binary (git's heuristic).
_SNIFF_BYTES = 8192


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on the first call


class ReadParams(_Params):
    """Parameters of ``read``."""

    path: str = Field(min_length=1,
                      description="File to read; relative paths start in the workspace.")
    offset: int = Field(1, ge=1, description="First line to return (1 = the first line).")
    limit: int | None = Field(None, ge=1, le=100_000,
                              description="Most lines to return; omit for the rest of the file.")


class WriteParams(_Params):
    """Parameters of ``write``."""

    path: str = Field(min_length=1, description="File to create or overwrite.")
    content: str = Field(description="The whole new content of the file (UTF-8 text).")
    create_dirs: bool = Field(True, description="Create missing parent folders.")


class EditParams(_Params):
    """Parameters of ``edit``."""

    path: str = Field(min_length=1, description="File to change.")
    old: str = Field(min_length=1, description="Exact text to replace; must occur exactly once. "
                     "Include surrounding lines to make it unique.")
    new: str = Field(description="Text that replaces it.")


class ListParams(_Params):
    """Parameters of ``list``."""

    path: str = Field(".", description="Folder to list; '.' is the workspace.")
    recursive: bool = Field(False, description="Also list every sub-folder's contents.")


class FindParams(_Params):
    """Parameters of ``find``."""

    pattern: str = Field(min_length=1,
                         description="Glob relative to path, e.g. '*.py' or '**/*.md'.")
    path: str = Field(".", description="Folder to search under; '.' is the workspace.")
    max_results: int = Field(200, ge=1, le=1000, description="Most paths to return.")

    @field_validator("pattern")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith(("/", "~")) or ".." in Path(value).parts:
            raise ValueError("must be relative to path and must not contain '..'")
        return value


class GrepParams(_Params):
    """Parameters of ``grep``."""

    pattern: str = Field(min_length=1,
                         description="Regular expression (Python syntax) to search for.")
    path: str = Field(".", description="File or folder to search; '.' is the workspace.")
    glob: str | None = Field(None, description="Only files whose name matches, e.g. '*.py'.")
    ignore_case: bool = Field(False, description="Match regardless of case.")
    max_results: int = Field(100, ge=1, le=500, description="Most matching lines to return.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return regex_pattern(value)


class ReadSkillParams(_Params):
    """Parameters of ``read_skill``."""

    name: str = Field(min_length=1, max_length=200,
                      description="Skill name, as listed in the prompt.")


class SkillLookup(Protocol):
    """What ``read_skill`` needs of the skill service."""

    def get(self, name: str) -> Any:
        """The skill called ``name``; raises when unknown."""

    def enabled(self, name: str) -> bool:
        """Whether it is switched on."""


# --- helpers ---------------------------------------------------------------------------------


def _is_binary(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"\x00" in handle.read(_SNIFF_BYTES)


def _read_text(path: Path, shown: str) -> str:
    if not path.is_file():
        raise ToolFailedError(f"{shown!r} is a folder, not a file; use list to see it"
                              if path.is_dir() else f"no file at {shown!r}")
    if _is_binary(path):
        raise ToolFailedError(f"{shown!r} looks binary (it contains NUL bytes); "
                              "read shows text only")
    return path.read_text(encoding="utf-8", errors="replace")


def _bounded(items: Iterator[dict[str, Any]] | list[dict[str, Any]], limit_bytes: int,
             max_items: int) -> tuple[list[dict[str, Any]], bool]:
    """Items while their JSON size stays within ``limit_bytes`` and their count ``max_items``."""
    kept: list[dict[str, Any]] = []
    size = 0
    for item in items:
        size += len(json.dumps(item)) + 2
        if len(kept) >= max_items or size > limit_bytes:
            return kept, True
        kept.append(item)
    return kept, False


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    try:
        resolve(str(path), roots)
    except PathNotAllowedError:
        return False
    return True


def _path_guard(operation: Literal["write", "edit"]) -> Callable[[Any, ToolContext], Any]:
    """A guard running the hardline path check on both the given and the resolved path."""

    def guard(params: Any, ctx: ToolContext) -> Any:
        from aman.tools.hardline import check_path  # sibling module; keeps import order free

        home = str(Path.home())
        cwd = str(ctx.workspace) if ctx.roots else None
        candidates = [params.path]
        try:
            candidates.append(str(resolve(params.path, ctx.roots)))
        except AmanError:
            pass  # the handler refuses the escape itself, with the clearer message
        for candidate in candidates:
            block = check_path(candidate, operation, home=home, cwd=cwd)
            if block is not None:
                return block
        return None

    return guard


# --- handlers --------------------------------------------------------------------------------


async def _read(params: ReadParams, ctx: ToolContext) -> ToolOutput:
    path = resolve(params.path, ctx.roots)
    text = await asyncio.to_thread(_read_text, path, params.path)
    lines = text.splitlines(keepends=True)
    end = None if params.limit is None else params.offset - 1 + params.limit
    chosen = "".join(lines[params.offset - 1:end])
    if params.offset > 1 or (end is not None and end < len(lines)):
        shown_end = min(len(lines), end or len(lines))
        chosen += f"\n[lines {params.offset}-{shown_end} of {len(lines)}]"
    out, truncated = cap(chosen, ctx.max_output_bytes)
    return ToolOutput(out, truncated)


def _write_file(path: Path, content: str, create_dirs: bool, shown: str) -> bool:
    if path.is_dir():
        raise ToolFailedError(f"{shown!r} is a folder; give a file path")
    if not path.parent.is_dir():
        if not create_dirs:
            raise ToolFailedError(f"folder {str(path.parent)!r} does not exist; "
                                  "pass create_dirs: true or create it first")
        path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    path.write_text(content, encoding="utf-8")
    return not existed


async def _write(params: WriteParams, ctx: ToolContext) -> ToolOutput:
    path = resolve(params.path, ctx.roots)
    created = await asyncio.to_thread(_write_file, path, params.content, params.create_dirs,
                                      params.path)
    return ToolOutput({"path": display(path, ctx.roots), "bytes": len(params.content.encode()),
                       "created": created})


def _edit_file(path: Path, old: str, new: str, shown: str) -> None:
    text = _read_text(path, shown)
    count = text.count(old)
    if count != 1:
        raise ToolFailedError(
            f"old text occurs {count} times in {shown!r}; it must occur exactly once"
            + ("" if count == 0 else " (include more surrounding lines to make it unique)"))
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def _edit(params: EditParams, ctx: ToolContext) -> ToolOutput:
    path = resolve(params.path, ctx.roots, must_exist=True)
    await asyncio.to_thread(_edit_file, path, params.old, params.new, params.path)
    return ToolOutput({"path": display(path, ctx.roots), "replaced": 1})


def _entry(path: Path, base: Path) -> dict[str, Any]:
    kind = "symlink" if path.is_symlink() else "dir" if path.is_dir() else "file"
    size = path.lstat().st_size if kind == "file" else None
    return {"path": str(path.relative_to(base)), "type": kind, "size": size}


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    if not recursive:
        yield from sorted(folder.iterdir())
        return
    for current, dirs, files in os.walk(folder):  # followlinks=False: no escape through links
        dirs.sort()
        base = Path(current)
        for name in [*dirs, *sorted(files)]:
            yield base / name


async def _list(params: ListParams, ctx: ToolContext) -> ToolOutput:
    folder = resolve(params.path, ctx.roots, must_exist=True)
    if not folder.is_dir():
        raise ToolFailedError(f"{params.path!r} is a file, not a folder; use read")

    def run() -> tuple[list[dict[str, Any]], bool]:
        entries = (_entry(p, folder) for p in _walk(folder, params.recursive))
        return _bounded(entries, ctx.max_output_bytes, 10_000)

    entries, truncated = await asyncio.to_thread(run)
    return ToolOutput({"path": display(folder, ctx.roots), "entries": entries,
                       "truncated": truncated}, truncated)


async def _find(params: FindParams, ctx: ToolContext) -> ToolOutput:
    folder = resolve(params.path, ctx.roots, must_exist=True)

    def run() -> tuple[list[dict[str, Any]], bool]:
        found = ({"path": str(p.relative_to(folder))} for p in folder.glob(params.pattern)
                 if _inside(p, ctx.roots))
        return _bounded(found, ctx.max_output_bytes, params.max_results)

    found, truncated = await asyncio.to_thread(run)
    return ToolOutput({"path": display(folder, ctx.roots), "matches": [f["path"] for f in found],
                       "truncated": truncated}, truncated)


def _grep_files(root: Path, glob: str | None) -> Iterator[Path]:
    candidates = [root] if root.is_file() else (p for p in _walk(root, True) if p.is_file())
    for path in candidates:
        if path.is_symlink() or (glob and not fnmatch.fnmatch(path.name, glob)):
            continue
        if path.stat().st_size <= GREP_MAX_FILE_BYTES and not _is_binary(path):
            yield path


def _grep(params: GrepParams, ctx: ToolContext,
          root: Path) -> tuple[list[dict[str, Any]], bool, int]:
    regex = re.compile(params.pattern, re.IGNORECASE if params.ignore_case else 0)
    base = root if root.is_dir() else root.parent
    matches: list[dict[str, Any]] = []
    size, searched = 0, 0
    for path in _grep_files(root, params.glob):
        searched += 1
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not regex.search(line):
                    continue
                match = {"path": str(path.relative_to(base)), "line": number,
                         "text": line.rstrip("\n")[:GREP_MAX_LINE_CHARS]}
                size += len(json.dumps(match)) + 2
                if len(matches) >= params.max_results or size > ctx.max_output_bytes:
                    return matches, True, searched
                matches.append(match)
    return matches, False, searched


async def _grep_handler(params: GrepParams, ctx: ToolContext) -> ToolOutput:
    root = resolve(params.path, ctx.roots, must_exist=True)
    matches, truncated, searched = await asyncio.to_thread(_grep, params, ctx, root)
    return ToolOutput({"path": display(root, ctx.roots), "matches": matches,
                       "files_searched": searched, "truncated": truncated}, truncated)


def _read_skill_handler(skills: SkillLookup) -> Callable[[ReadSkillParams, ToolContext], Any]:
    async def handler(params: ReadSkillParams, ctx: ToolContext) -> ToolOutput:
        try:
            skill = skills.get(params.name)
        except AmanError:
            raise ToolFailedError(f"no skill named {params.name!r}; use a name from the "
                                  "skills listed in your instructions") from None
        if not skills.enabled(params.name):
            raise ToolFailedError(f"skill {params.name!r} is disabled")
        if not skill.ok or not skill.body:
            raise ToolFailedError(f"skill {params.name!r} has no instructions to read "
                                  f"(status {skill.status}, kind {skill.kind})")
        out, truncated = cap(skill.body, ctx.max_output_bytes)
        return ToolOutput(out, truncated)

    return handler


def file_tools(skills: SkillLookup) -> list[Tool]:
    """The built-in file tools and ``read_skill`` (default sensitivities from)."""
    low, medium = Sensitivity.LOW, Sensitivity.MEDIUM
    return [
        Tool("read", "Read a text file (optionally a range of lines).", ReadParams, low, _read),
        Tool("write", "Create or overwrite a text file with the given content.", WriteParams,
             medium, _write, guard=_path_guard("write")),
        Tool("edit", "Replace one exact occurrence of a text in a file.", EditParams, medium,
             _edit, guard=_path_guard("edit")),
        Tool("list", "List a folder's entries with type and size.", ListParams, low, _list),
        Tool("find", "Find files whose path matches a glob pattern.", FindParams, low, _find),
        Tool("grep", "Search files for lines matching a regular expression.", GrepParams, low,
             _grep_handler),
        Tool("read_skill", "Read the full instructions of a skill by name.", ReadSkillParams, low,
             _read_skill_handler(skills)),
    ]
