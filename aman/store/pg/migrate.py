"""PostgreSQL migrations (``pg/migrations/NNNN_name.sql``), numbered like the embedded ones.

Each script and its ``schema_version`` row commit together. An advisory lock makes daemons that
start at once on one server take turns, and a database whose recorded version is newer than
this code's migrations refuses to open rather than be written by code that does not know it.
"""

from __future__ import annotations

import logging
import time

from aman.store.migrate import Migration, bundled_migrations, pending
from aman.store.pg.db import PgDatabase, describe

log = logging.getLogger(__name__)

#: The advisory lock key migrations hold (any fixed number shared by every daemon).
MIGRATION_LOCK = 0x616D616E_0001


def bundled_pg_migrations() -> list[Migration]:
    """The migrations shipped in ``aman/store/pg/migrations``, sorted by number."""
    return bundled_migrations("aman.store.pg")


async def migrate_pg(db: PgDatabase, migrations: list[Migration] | None = None) -> int:
    """Apply every migration newer than the recorded version; return the version now in force."""
    wanted = migrations if migrations is not None else bundled_pg_migrations()
    async with db.transaction() as tx:
        await tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)")
        row = await tx.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        current = int(row["v"]) if row else 0
        for migration in pending(wanted, current, describe(db.url)):
            log.info("applying migration %s (PostgreSQL)", migration.name)
            await tx.execute(migration.sql)
            await tx.execute(
                "INSERT INTO schema_version (version, name, applied_at_ms) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time_ns() // 1_000_000))
            current = migration.version
    return current
