"""A consistent copy of a live database file, and the checks a copy must pass before use.

These are synchronous (the standard ``sqlite3`` module) because they run in the ``aman`` command,
not in the daemon: SQLite's online backup reads one snapshot under a read transaction, which in
WAL mode never blocks the daemon's writers, so every transaction committed before the copy
started is in it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aman.errors import StoreError

#: How long to wait for a lock held by the daemon's writer before giving up.
BUSY_TIMEOUT_SEC = 30.0


def copy_database(source: Path, target: Path) -> None:
    """Copy ``source`` to a new file ``target`` with SQLite's online backup, in one step."""
    if not source.is_file():
        raise StoreError(f"no database at {source}")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SEC)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # pages=-1: the whole file from one snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {source} failed: {exc}") from exc


def schema_version(path: Path) -> int:
    """The newest migration recorded in a database file (0 when it has none)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SEC)
        try:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the schema version of {path}: {exc}") from exc
    return int(row[0])


def integrity_problems(path: Path) -> list[str]:
    """What ``PRAGMA integrity_check`` finds wrong with a database file (empty when sound)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SEC)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"cannot check {path}: {exc}"]
    problems = [str(r[0]) for r in rows]
    return [] if problems == ["ok"] else problems
