"""Numbered SQL migrations (``migrations/NNNN_name.sql``), applied in order and recorded."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import resources

from aman.errors import StoreError
from aman.store.db import Database

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL script."""

    version: int
    name: str
    sql: str


def bundled_migrations(package: str = "aman.store") -> list[Migration]:
    """The migrations shipped in ``package``'s ``migrations`` folder, sorted by number."""
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration numbers in {versions}")
    return found


def pending(migrations: list[Migration], current: int, where: str, *,
            refuse_newer: bool = True) -> list[Migration]:
    """The migrations newer than the ``current`` version, in order; a database whose version is
    newer than every migration is refused rather than written by code that does not know it."""
    newest = max((m.version for m in migrations), default=0)
    if refuse_newer and current > newest:
        raise StoreError(
            f"the database {where} has schema version {current}, newer than this aman knows"
            f" ({newest}): upgrade aman, or point store.url at another database")
    return [m for m in migrations if m.version > current]


async def migrate(db: Database, migrations: list[Migration] | None = None) -> int:
    """Apply every migration newer than the recorded version; return the version now in force."""
    await db.executescript(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
    )
    row = await db.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
    current = int(row["v"]) if row else 0
    bundled = migrations is None
    wanted = bundled_migrations() if migrations is None else migrations
    for migration in pending(wanted, current, str(db.path), refuse_newer=bundled):
        log.info("applying migration %s", migration.name)
        # executescript commits on its own, so the script and its record go in one script.
        await db.executescript(
            "BEGIN;\n"
            + migration.sql
            + "\nINSERT INTO schema_version (version, name, applied_at_ms) VALUES ("
            + f"{migration.version}, '{migration.name}', {time.time_ns() // 1_000_000});"
            + "\nCOMMIT;"
        )
        current = migration.version
    return current
