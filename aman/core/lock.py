"""One daemon per runtime dir: an flock on ``<runtime.dir>/aman.lock`` holding the owner's pid.

The kernel drops an flock when its process dies, so a ``kill -9`` never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from aman.errors import LockHeldError

LOCK_NAME = "aman.lock"


class InstanceLock:
    """Exclusive, process-lifetime ownership of a runtime dir."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise ``LockHeldError`` naming the pid that has it."""
        if self._fd is not None:
            return
        # A new runtime dir is private: it will hold the database (conversations, audit log).
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeldError(
                f"runtime dir {self.path.parent} is in use by another aman daemon (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up; safe to call when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
