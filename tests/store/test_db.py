"""Database wrapper: migrations, transactions, error translation, closed state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aman.errors import StoreError, StoreUnavailableError
from aman.store.db import Database
from aman.store.migrate import Migration, bundled_migrations, migrate
from tests.helpers import let_run


async def test_migrations_apply_once_and_record_versions(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        latest = bundled_migrations()[-1].version
        assert await migrate(db) == latest
        assert await migrate(db) == latest  # idempotent
        rows = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in bundled_migrations()]
        mode = await db.fetchone("PRAGMA journal_mode")
        assert mode is not None and mode[0] == "wal"
    finally:
        await db.close()


async def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        await migrate(db)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO schema_version VALUES (9999, '9999_future.sql', 0)")
        with pytest.raises(StoreError, match="schema version 9999, newer than this aman knows"):
            await migrate(db)
    finally:
        await db.close()


async def test_failed_migration_leaves_no_partial_schema(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        bad = [Migration(1, "0001_bad.sql", "CREATE TABLE t (a INTEGER);\nTHIS IS NOT SQL;")]
        with pytest.raises(StoreError):
            await migrate(db, bad)
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 't'") is None
        async with db.transaction() as tx:  # the writer is usable and sees no table either
            assert await tx.fetchone("SELECT name FROM sqlite_master WHERE name = 't'") is None
        assert await migrate(db, []) == 0
    finally:
        await db.close()


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        await db.executescript("CREATE TABLE t (a INTEGER PRIMARY KEY)")
        with pytest.raises(StoreError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")
                await tx.execute("INSERT INTO t VALUES (1)")  # duplicate key
        assert await db.fetchall("SELECT * FROM t") == []
    finally:
        await db.close()


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_writer_cancelled_mid_transaction_leaves_the_connection_usable(
        tmp_path: Path, turns: int) -> None:
    # Cancelled while BEGIN, a statement or COMMIT is on its way to the connection's thread
    # (which runs it anyway), the transaction must still be ended, or every later BEGIN fails.
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        await db.executescript("CREATE TABLE t (a INTEGER PRIMARY KEY)")

        async def write() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")

        task = asyncio.create_task(write())
        await let_run(turns)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")
        assert [row[0] for row in await db.fetchall("SELECT a FROM t")] in ([2], [1, 2])
    finally:
        await db.close()


async def test_closed_database_reports_unavailable(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    with pytest.raises(StoreUnavailableError):
        await db.fetchall("SELECT 1")
    await db.open()
    await db.close()
    with pytest.raises(StoreUnavailableError):
        async with db.transaction():
            pass
