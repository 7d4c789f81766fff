"""Moving a stopped installation's whole store to the other backend, then checking the copy.

The order keeps every refusal free of writes: the source is read and the target inspected
before anything is created. Then the source's schema is brought up to date (what its daemon
would do at the next boot), the target is opened (its migrations run), every table is copied in
one transaction, and the copy is checked: row counts table by table, and the audit log's hash
chain walked on the target by the audit log's own verification.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from aman.audit.log import AuditLog
from aman.clock import SystemClock
from aman.config.cluster import ClusterSettings
from aman.errors import StoreError
from aman.store.backend import StoreBackend, open_backend
from aman.store.transfer import (
    copy_tables,
    count_rows,
    newest_version,
    occupied,
    plan_copy,
    schema_version,
    tables,
    upgrade_schema,
)
from aman.transfer.model import (
    StoreLocation,
    TableReport,
    TransferRefusedError,
    TransferReport,
)

log = logging.getLogger(__name__)

#: Occupied tables named in a refusal; the rest are counted.
_NAMED = 5
#: When a PostgreSQL daemon's heartbeat row counts as a running daemon (cluster.dead_after_sec's
#: default; the command passes the configured value).
DEAD_AFTER_MS = int(ClusterSettings.model_fields["dead_after_sec"].default * 1000)


def _backend_of(location: StoreLocation) -> StoreBackend:
    """The store ``location`` names, not yet connected."""
    if location.path is None:  # PostgreSQL: the file argument is not used
        return open_backend(location.url, Path())
    return open_backend(None, location.path)


async def migrate_store(source: StoreLocation, target: StoreLocation, *,
                        on_table: Callable[[str, int], None] | None = None,
                        dead_after_ms: int = DEAD_AFTER_MS) -> TransferReport:
    """Copy the store at ``source`` into the empty store at ``target`` and check the copy;
    ``TransferRefusedError`` (nothing written) when it must not start. A daemon whose row in
    a shared (PostgreSQL) source is younger than ``dead_after_ms`` counts as running."""
    if source.kind == target.kind:
        raise TransferRefusedError(
            f"both stores are {source.kind}: migrate-store moves a store to the other backend",
            hint="copy a SQLite store with aman backup and aman restore, a PostgreSQL "
                 "database with pg_dump and pg_restore")
    started = time.monotonic()
    src, dst = _backend_of(source), _backend_of(target)
    try:
        await _open_source(source, src)
        await _refuse_running_daemons(source, src, dead_after_ms)
        await _check_target(target, dst)
        version = await schema_version(src.db)
        upgraded_from = None
        if version < newest_version(src.db):
            log.info("bringing the source's schema from version %d up to date", version)
            upgraded_from, version = version, await upgrade_schema(src.db)
        target_version = await dst.open()
        plan = plan_copy(await tables(src.db), await tables(dst.db))
        try:
            await copy_tables(src.db, dst.db, plan, on_table=on_table)
        except StoreError as exc:
            raise StoreError(f"the copy failed and was rolled back (the target holds the empty "
                             f"schema, no rows): {exc.message}", hint=exc.hint) from exc
        names = [table.name for _, table in plan.pairs]
        before, after = await count_rows(src.db, names), await count_rows(dst.db, names)
        audit = await AuditLog(dst.audit, SystemClock()).verify()
        source_audit = None if audit.ok else await AuditLog(src.audit, SystemClock()).verify()
    finally:
        await dst.close()
        await src.close()
    return TransferReport(
        source=source, target=target, schema_version=min(version, target_version),
        tables=tuple(TableReport(name, before[name], after[name]) for name in names),
        skipped=plan.skipped, audit=audit, source_audit=source_audit,
        upgraded_from=upgraded_from, seconds=time.monotonic() - started)


async def _open_source(location: StoreLocation, src: StoreBackend) -> None:
    """Connect to the source; refuse one that is missing, not aman's or newer than this aman."""
    if location.path is not None and not location.path.is_file():
        raise TransferRefusedError(
            f"there is no SQLite store at {location.path}",
            hint="give --from the aman.db of the installation to move (in its runtime dir)")
    await src.db.open()
    version = await schema_version(src.db)
    if version == 0:
        raise TransferRefusedError(f"{location.describe()} holds no aman store",
                                   hint="give --from the store of the installation to move")
    newest = newest_version(src.db)
    if version > newest:
        raise TransferRefusedError(
            f"{location.describe()} has schema version {version}, newer than this aman knows"
            f" ({newest})", hint="run migrate-store with the aman version that wrote it")


async def _refuse_running_daemons(location: StoreLocation, src: StoreBackend,
                                  dead_after_ms: int) -> None:
    """Refuse a shared source on which a daemon beats (its heartbeat row is fresh): the copy
    would miss what it writes meanwhile. A SQLite daemon does not beat; its lock tells."""
    if not src.coordination.shared or "daemons" not in await tables(src.db):
        return
    now = SystemClock().now_ms()
    running = [m for m in await src.members.members() if m.alive(now, dead_after_ms)]
    if running:
        named = ", ".join(f"{m.name} (pid {m.pid} on {m.host}, seen "
                          f"{(now - m.last_seen) / 1000:.1f} s ago)" for m in running)
        raise TransferRefusedError(
            f"a daemon runs on the source {location.describe()}: {named}",
            hint="stop every daemon on it first (a daemon that just died counts as running "
                 f"until its row is {dead_after_ms / 1000:g} s old), then migrate again")


async def _check_target(location: StoreLocation, dst: StoreBackend) -> None:
    """Refuse a target that already holds rows; a SQLite file that does not exist is empty
    (and is not created by looking)."""
    if location.path is not None:
        if location.path.is_dir():
            raise TransferRefusedError(f"{location.path} is a folder, not a SQLite file",
                                       hint="give --to sqlite:///<folder>/aman.db")
        if not location.path.exists():
            return
    await dst.db.open()
    try:
        found = await occupied(dst.db)
    finally:
        await dst.db.close()
    if found:
        named = ", ".join(f"{name} ({rows} rows)" for name, rows in sorted(found.items())[:_NAMED])
        more = f" and {len(found) - _NAMED} more tables" if len(found) > _NAMED else ""
        raise TransferRefusedError(
            f"the target {location.describe()} already holds data: {named}{more}",
            hint="migrate into an empty database (dropdb and createdb, or a new file); "
                 "migrate-store never overwrites a store")
