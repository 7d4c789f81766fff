"""Memory written by other agent runtimes, read where it lies and never written.

A path in ``agents.<id>.memory.import`` may be another runtime's workspace or its memory folder:
``MEMORY.md`` and ``USER.md`` at its top, in ``memories/`` or in ``memory/`` go into the prompt
(read-only); daily notes ``memory/YYYY-MM-DD.md`` and a ``history.jsonl`` are searchable only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DAILY = re.compile(r"^\d{4}-\d{2}-\d{2}\.md$")
_PROMPT_FILES = ("MEMORY.md", "USER.md")
_FOLDERS = ("", "memories", "memory")


@dataclass(frozen=True)
class ImportedFile:
    """One file of another runtime: where it is, how results name it, whether it is prompted."""

    path: Path
    shown: str
    in_prompt: bool

    @property
    def mtime_ms(self) -> int:
        """When it last changed (0 when it is gone)."""
        try:
            return int(self.path.stat().st_mtime * 1000)
        except OSError:
            return 0

    def read(self) -> str:
        """Its text ('' when it is gone or unreadable)."""
        try:
            return self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ""

    def chunks(self) -> Iterator[tuple[int, str]]:
        """(line number, text) pieces to index: paragraphs of Markdown, messages of JSONL."""
        text = self.read()
        if self.path.suffix == ".jsonl":
            for number, line in enumerate(text.splitlines(), start=1):
                content = _jsonl_text(line)
                if content:
                    yield number, content
            return
        start, block = 1, list[str]()
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() in ("", "§"):
                if block:
                    yield start, "\n".join(block)
                block, start = [], number + 1
            else:
                block.append(line)
        if block:
            yield start, "\n".join(block)

    def to_json(self) -> dict[str, Any]:
        """The listing shape."""
        return {"path": str(self.path), "shown": self.shown, "in_prompt": self.in_prompt,
                "exists": self.path.is_file()}


def _jsonl_text(line: str) -> str:
    try:
        value = json.loads(line)
    except ValueError:
        return ""
    if isinstance(value, dict):
        for key in ("content", "text", "message"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return ""


def imported_files(roots: Sequence[Path]) -> list[ImportedFile]:
    """Every file the import paths offer, in a stable order."""
    found: list[ImportedFile] = []
    for root in roots:
        root = root.expanduser()
        label = f"import:{root.name or 'root'}"
        for name in _PROMPT_FILES:
            for folder in _FOLDERS:
                candidate = root / folder / name if folder else root / name
                if candidate.is_file():
                    shown = f"{label}/{candidate.relative_to(root).as_posix()}"
                    found.append(ImportedFile(candidate, shown, True))
                    break
        for folder in ("memory", ""):
            base = root / folder if folder else root
            if base.is_dir():
                for note in sorted(base.iterdir()):
                    if _DAILY.match(note.name) and note.is_file():
                        shown = f"{label}/{note.relative_to(root).as_posix()}"
                        found.append(ImportedFile(note, shown, False))
        history = root / "memory" / "history.jsonl"
        if history.is_file():
            found.append(ImportedFile(history, f"{label}/memory/history.jsonl", False))
    return found
