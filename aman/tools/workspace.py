"""Path confinement for file tools: the workspace and the configured roots, nothing else.

A path is allowed when its fully resolved form (``..`` collapsed, every symlink followed) lies
inside one resolved root. Checking the resolved path, not the string, is what stops a symlink in
the workspace from pointing at ``~/.ssh``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from aman.errors import ForbiddenError
from aman.tools.model import ToolFailedError


class PathNotAllowedError(ForbiddenError):
    """A tool was asked to touch a path outside the workspace and the configured roots."""

    code = "path_not_allowed"
    hint = ("Use a path inside the workspace (relative paths start there) or one of "
            "tools.roots; '..', absolute paths elsewhere and escaping symlinks are refused.")


def resolve(path: str, roots: Sequence[Path], *, must_exist: bool = False) -> Path:
    """``path`` resolved inside one of ``roots`` (relative paths start in ``roots[0]``).

    Raises ``PathNotAllowedError`` naming the path and the allowed roots when it escapes, and
    ``ToolFailedError`` when ``must_exist`` and nothing is there.
    """
    if not roots:
        raise PathNotAllowedError(f"path {path!r} is not allowed: no tool roots are configured")
    if "\x00" in path:
        raise PathNotAllowedError(f"path {path!r} contains a NUL byte")
    resolved_roots = [root.expanduser().resolve() for root in roots]
    raw = Path(os.path.expanduser(path)) if path.startswith("~") else Path(path)
    candidate = raw if raw.is_absolute() else resolved_roots[0] / raw
    # strict=False: a file about to be written need not exist, but every existing part of the
    # path (including symlinks) is followed.
    target = candidate.resolve(strict=False)
    if not any(target == root or target.is_relative_to(root) for root in resolved_roots):
        allowed = ", ".join(str(r) for r in resolved_roots)
        why = "resolves (through a symlink or '..') to" if target != candidate else "is"
        raise PathNotAllowedError(
            f"path {path!r} {why} {str(target)!r}, outside the allowed roots ({allowed})",
            details={"path": path, "resolved": str(target),
                     "roots": [str(r) for r in resolved_roots]})
    if must_exist and not target.exists():
        raise ToolFailedError(f"no file or folder at {path!r} ({target})")
    return target


def display(path: Path, roots: Sequence[Path]) -> str:
    """``path`` relative to the workspace when inside it (shorter for the model), else absolute."""
    workspace = roots[0].expanduser().resolve() if roots else None
    if workspace is not None and path.is_relative_to(workspace):
        return str(path.relative_to(workspace)) or "."
    return str(path)
