"""Online copy of a database file and its integrity check (for the CLI and the daemon)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from aman.errors import StoreError
from aman.store.db import Database
from aman.store.migrate import bundled_migrations, migrate
from aman.store.snapshot import copy_database, integrity_problems, schema_version


def damaged(path: Path) -> Path:
    """A database whose index no longer matches its table (same length, other bytes)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE t (a TEXT)")
        conn.execute("CREATE INDEX i ON t (a)")
        conn.executemany("INSERT INTO t VALUES (?)", [(f"value-{n:05d}",) for n in range(50)])
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'i'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as stream:
        stream.seek((root - 1) * size)
        page = stream.read(size).replace(b"value-00010", b"value-99999")
        stream.seek((root - 1) * size)
        stream.write(page)
    return path


async def test_copy_of_a_live_database_holds_every_committed_row(tmp_path: Path) -> None:
    db = Database(tmp_path / "aman.db")
    await db.open()
    try:
        await migrate(db)
        await db.executescript("CREATE TABLE rows (n INTEGER);")
        async with db.transaction() as tx:
            await tx.executemany("INSERT INTO rows VALUES (?)", [(n,) for n in range(100)])
        copy_database(tmp_path / "aman.db", tmp_path / "copy.db")  # while the daemon's open
    finally:
        await db.close()
    with closing(sqlite3.connect(tmp_path / "copy.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == 100
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    latest = max(m.version for m in bundled_migrations())
    assert schema_version(tmp_path / "copy.db") == latest
    assert integrity_problems(tmp_path / "copy.db") == []


def test_a_damaged_file_is_reported(tmp_path: Path) -> None:
    problems = integrity_problems(damaged(tmp_path / "bad.db"))
    assert problems and "missing from index i" in problems[0]
    with pytest.raises(StoreError, match="no database"):
        copy_database(tmp_path / "absent.db", tmp_path / "copy.db")


async def test_the_daemons_check_reports_the_same(tmp_path: Path) -> None:
    db = Database(damaged(tmp_path / "bad.db"))
    await db.open()
    try:
        problems = await db.integrity_problems()
    finally:
        await db.close()
    assert problems and "missing from index i" in problems[0]
