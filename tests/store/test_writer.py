"""BatchWriter: group commit where a failing statement takes down its own unit and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aman.errors import StoreError
from aman.store.db import Database
from aman.store.writer import BatchWriter


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[tuple[Database, BatchWriter]]:
    db = Database(tmp_path / "w.db")
    await db.open()
    await db.executescript("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
                           "CREATE TABLE log (line TEXT NOT NULL);")
    writer = BatchWriter(db)
    await writer.start()
    yield db, writer
    await writer.stop()
    await db.close()


async def rows(db: Database, table: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY rowid")]


async def test_the_statements_of_one_execute_fail_together(
        writer: tuple[Database, BatchWriter]) -> None:
    db, w = writer
    await w.execute([("INSERT INTO t VALUES (?, ?)", ("a", 1))])
    with pytest.raises(StoreError):
        await w.execute([("INSERT INTO log VALUES (?)", ("before",)),
                         ("INSERT INTO t VALUES (?, ?)", ("a", 2)),
                         ("INSERT INTO log VALUES (?)", ("after",))])
    assert await rows(db, "t") == [("a", 1)]
    assert await rows(db, "log") == []


async def test_a_failing_unit_does_not_sink_the_others_in_its_batch(
        writer: tuple[Database, BatchWriter]) -> None:
    db, w = writer
    await w.execute([("INSERT INTO t VALUES (?, ?)", ("a", 1))])
    w.submit("INSERT INTO log VALUES (?)", ("queued-1",))
    results = await asyncio.gather(
        w.execute([("INSERT INTO log VALUES (?)", ("good",)),
                   ("INSERT INTO t VALUES (?, ?)", ("b", 2))]),
        w.execute([("INSERT INTO log VALUES (?)", ("bad",)),
                   ("INSERT INTO t VALUES (?, ?)", ("a", 3))]),
        return_exceptions=True)
    w.submit("INSERT INTO t VALUES (?, ?)", ("a", 4))  # fails alone
    w.submit("INSERT INTO log VALUES (?)", ("queued-2",))
    await w.flush()
    assert results[0] is None and isinstance(results[1], StoreError)
    assert await rows(db, "t") == [("a", 1), ("b", 2)]
    assert sorted(await rows(db, "log")) == [("good",), ("queued-1",), ("queued-2",)]
