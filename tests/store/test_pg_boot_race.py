"""Two daemons booting at once on one fresh PostgreSQL database write the same rows together: the
repositories they run at boot must take turns, not fail on each other's keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aman.store.pg.db import PgDatabase
from aman.store.pg.migrate import migrate_pg
from aman.store.workflows import SqlWorkflowRepository
from aman.store.writer import BatchWriter
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]


@pytest.fixture
async def two(pg_server: PgServer) -> AsyncIterator[tuple[SqlWorkflowRepository, ...]]:
    """Two daemons' workflow repositories (own pools and writers) on one database."""
    url = pg_server.new_database()
    opened: list[tuple[PgDatabase, BatchWriter]] = []
    for _ in range(2):
        db = PgDatabase(url)
        await db.open()
        await migrate_pg(db)
        writer = BatchWriter(db)
        await writer.start()
        opened.append((db, writer))
    yield tuple(SqlWorkflowRepository(db, writer) for db, writer in opened)
    for db, writer in opened:
        await writer.stop()
        await db.close()


async def test_both_record_the_same_definitions_at_once_and_agree_on_versions(
        two: tuple[SqlWorkflowRepository, SqlWorkflowRepository]) -> None:
    one, other = two
    names = [f"flow{n}" for n in range(20)]
    body = {"states": ["open", "closed"]}
    versions = await asyncio.gather(*(
        repo.record_definition(name, "same-hash", body, None, 1_000)
        for name in names for repo in (one, other)))
    assert versions == [1] * 40


async def test_two_new_contents_of_one_definition_at_once_take_two_versions(
        two: tuple[SqlWorkflowRepository, SqlWorkflowRepository]) -> None:
    one, other = two
    for n in range(10):
        name = f"changed{n}"
        got = await asyncio.gather(one.record_definition(name, "a", {"v": "a"}, None, 1_000),
                                   other.record_definition(name, "b", {"v": "b"}, None, 1_000))
        assert sorted(got) == [1, 2]
        assert all([await one.definition(name, "a"), await other.definition(name, "b")])
