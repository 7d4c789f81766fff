"""Where a soul lives: a name looked up in the soul folders, or a path to a file of its own.

A value naming a path (it holds a ``/``, starts with ``~`` or ends in ``.md``) is the soul's file
itself (or a folder holding ``SOUL.md``), so an existing SOUL.md from another workspace can be used
where it is. Anything else is a name: ``<dir>/<name>.md`` or ``<dir>/<name>/SOUL.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aman.config.settings import is_soul_path

__all__ = ["SOUL_FILE", "find_soul", "is_soul_path", "soul_candidates"]

#: The file a soul folder holds.
SOUL_FILE = "SOUL.md"


def soul_candidates(ref: str, dirs: Sequence[Path]) -> list[Path]:
    """The files that may hold soul ``ref``, highest precedence first (each one really tried)."""
    if is_soul_path(ref):
        path = Path(ref).expanduser()
        return [path / SOUL_FILE] if path.is_dir() else [path]
    return [path for folder in reversed(dirs)
            for path in (folder / f"{ref}.md", folder / ref / SOUL_FILE)]


def find_soul(ref: str, dirs: Sequence[Path]) -> Path | None:
    """The first existing file of :func:`soul_candidates`, or None."""
    return next((path for path in soul_candidates(ref, dirs) if path.is_file()), None)
