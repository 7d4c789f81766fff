"""Replacing a file so that a crash leaves either the old content or the new, never half."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: str, *, mode: int | None = None) -> None:
    """Write ``content`` to a hidden temp file beside ``path``, fsync it, rename it over ``path``.

    The file keeps the mode it had unless ``mode`` is given; a new file without ``mode`` is
    private (0600). The folder is synced too where the OS allows, so the rename survives a
    crash. On any error the temp file is removed and the error raised; ``path`` is untouched.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
