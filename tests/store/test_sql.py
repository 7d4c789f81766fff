"""The dialect: each fragment gives the same answer on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aman.store.db import Database
from aman.store.pg.db import PgDatabase
from aman.store.sql import POSTGRESQL, SQLITE, SqlDatabase
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    database: Database | PgDatabase
    if request.param == "sqlite":
        database = Database(tmp_path / "t.db")
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        database = PgDatabase(server.new_database())
    await database.open()
    await database.executescript("CREATE TABLE w (word TEXT NOT NULL)")
    yield database
    await database.close()


def test_each_database_names_its_own_dialect() -> None:
    assert Database(Path("unused.db")).dialect is SQLITE
    assert PgDatabase("postgresql://localhost/unused").dialect is POSTGRESQL
    assert (SQLITE.text_search, POSTGRESQL.text_search) == ("fts5", "tsvector")


async def test_greatest_and_utc_day_agree(db: SqlDatabase) -> None:
    d = db.dialect
    row = await db.fetchone(
        f"SELECT {d.greatest('?', '3', 'CAST(? AS BIGINT)')} AS top,"
        f" {d.utc_day('CAST(? AS BIGINT)')} AS day", (2, 7, 1_772_409_599_999))
    assert row is not None
    assert (row["top"], row["day"]) == (7, "2026-03-01")


async def test_bytewise_orders_by_bytes_whatever_the_collation(db: SqlDatabase) -> None:
    async with db.transaction() as tx:
        await tx.executemany("INSERT INTO w (word) VALUES (?)", [("b",), ("B",), ("a",), ("_",)])
    rows = await db.fetchall(f"SELECT word FROM w ORDER BY {db.dialect.bytewise('word')}")
    assert [r["word"] for r in rows] == ["B", "_", "a", "b"]


async def test_the_transaction_lock_runs_where_there_is_one(db: SqlDatabase) -> None:
    async with db.transaction() as tx:
        if db.dialect.transaction_lock is not None:
            await tx.execute(db.dialect.transaction_lock, (42,))
        await tx.execute("INSERT INTO w (word) VALUES (?)", ("locked",))
        returned = await tx.fetchone("INSERT INTO w (word) VALUES (?) RETURNING word", ("back",))
    assert returned is not None and returned["word"] == "back"
    assert len(await db.fetchall("SELECT word FROM w")) == 2
