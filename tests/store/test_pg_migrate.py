"""PostgreSQL migrations mirror the SQLite ones and record the schema version the same way."""

from __future__ import annotations

import pytest

from aman.errors import StoreError
from aman.store.migrate import Migration, bundled_migrations
from aman.store.pg.db import PgDatabase
from aman.store.pg.migrate import bundled_pg_migrations, migrate_pg
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]


def test_every_migration_has_its_postgresql_twin() -> None:
    assert [m.name for m in bundled_pg_migrations()] == [m.name for m in bundled_migrations()]


async def test_migrations_apply_once_and_record_versions(pg_server: PgServer) -> None:
    db = PgDatabase(pg_server.new_database())
    await db.open()
    try:
        latest = bundled_pg_migrations()[-1].version
        assert await migrate_pg(db) == latest
        assert await migrate_pg(db) == latest  # idempotent
        rows = await db.fetchall("SELECT version, name FROM schema_version ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [
            (m.version, m.name) for m in bundled_migrations()]
    finally:
        await db.close()


async def test_a_failed_migration_leaves_nothing_behind(pg_server: PgServer) -> None:
    db = PgDatabase(pg_server.new_database())
    await db.open()
    try:
        bad = [Migration(1, "0001_bad.sql", "CREATE TABLE t (a BIGINT);\nTHIS IS NOT SQL;")]
        with pytest.raises(StoreError):
            await migrate_pg(db, bad)
        left = await db.fetchone(
            "SELECT to_regclass('t') AS t, to_regclass('schema_version') AS versions")
        assert left is not None and dict(left) == {"t": None, "versions": None}
    finally:
        await db.close()
