"""``aman migrate-store --from URL --to URL``: move a stopped installation's store to the other
backend (SQLite to PostgreSQL, or back) and check the copy.

The copy, its checks and its refusals live in ``aman/transfer/``; this module reads the flags,
holds a SQLite source's runtime dir lock while it works (a running daemon refuses the move, and
none can start meanwhile), and prints the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aman.cli.client import CliError
from aman.cli.connect import UsageError, common_options, options
from aman.cli.output import emit, table

if TYPE_CHECKING:
    from aman.config.settings import Settings
    from aman.transfer import StoreLocation, TransferReport


def register(cli: click.Group) -> None:
    """Add ``migrate-store``."""
    cli.add_command(migrate_store)


@click.command("migrate-store")
@click.option("--from", "source", metavar="URL",
              help="The store to copy: sqlite:///path/aman.db or postgresql://user@host/db "
                   "(default: this config's store, aman.db in the runtime dir).")
@click.option("--to", "target", metavar="URL", required=True,
              help="The empty store to fill, on the other backend.")
@common_options
def migrate_store(source: str | None, target: str) -> None:
    """Copy a stopped installation's whole store to the other backend, then check the copy.

    The target must be empty (a new PostgreSQL database, or a SQLite file that does not exist
    yet); its schema is created first. Every table is copied with its ids in one transaction,
    then row counts are compared table by table and the audit chain is verified on the target.
    The source's daemons must be stopped: a SQLite source's runtime dir lock is checked and held
    to the end; on a PostgreSQL source a daemon whose heartbeat row is fresh refuses the move
    (checked once, at the start). Exit 0 when the copy matches, 1 when something differs or the
    move is refused, 2 for a malformed URL.
    """
    from aman.errors import AmanError
    from aman.transfer import InvalidStoreUrlError, TransferRefusedError, parse_store_url
    from aman.transfer import migrate_store as run_transfer

    settings = _settings_if_readable(needed=source is None)
    base = settings.runtime.dir if settings is not None else Path.cwd()
    try:
        where_from = parse_store_url(source or _configured_store(settings), base)
        where_to = parse_store_url(target, base)
    except InvalidStoreUrlError as exc:
        raise UsageError(exc.message, exc.hint) from None
    progress = None if options().json else _progress
    extra: dict[str, Any] = {} if settings is None else {
        "dead_after_ms": int(settings.cluster.dead_after_sec * 1000)}
    with _source_held(where_from, settings):
        try:
            report = asyncio.run(run_transfer(where_from, where_to, on_table=progress, **extra))
        except TransferRefusedError as exc:
            raise CliError(f"{exc.message}; nothing was written", exc.hint) from None
        except AmanError as exc:
            raise CliError(exc.message, exc.hint) from None
    emit(report.to_json(), lambda _: _summary(report))
    if not report.ok:
        raise CliError("the copy does not match the source: " + "; ".join(report.problems),
                       f"the target {where_to.describe()} is left as copied, for a look; empty "
                       "it (dropdb and createdb, or delete the file) before migrating again")


def _settings_if_readable(*, needed: bool) -> Settings | None:
    """The config's settings; without ``needed``, an unreadable config is no obstacle (both
    URLs were given, the config only tells which runtime dir to lock)."""
    try:
        return options().settings()
    except UsageError:
        if needed:
            raise
        return None


def _configured_store(settings: Settings | None) -> str:
    assert settings is not None  # loaded (or failed) because --from was not given
    if settings.store.is_postgres and settings.store.url is not None:
        return settings.store.url
    return f"sqlite://{settings.database_path.resolve()}"


@contextlib.contextmanager
def _source_held(source: StoreLocation, settings: Settings | None) -> Iterator[None]:
    """Hold the instance lock of every runtime dir the SQLite source belongs to; a daemon
    holding one refuses the move. A PostgreSQL source is not checked (see the help)."""
    from aman.core.lock import LOCK_NAME, InstanceLock
    from aman.errors import LockHeldError

    if source.path is None or not source.path.is_file():  # nothing to hold (or refused later)
        yield
        return
    folders = [source.path.parent] if (source.path.parent / LOCK_NAME).exists() else []
    if settings is not None and settings.database_path.resolve() == source.path \
            and settings.runtime.dir.resolve() not in folders:
        folders.append(settings.runtime.dir.resolve())
    held: list[InstanceLock] = []
    try:
        for folder in folders:
            lock = InstanceLock(folder)
            try:
                lock.acquire()
            except LockHeldError as exc:
                raise CliError(f"{exc.message}; migrate-store moves a stopped installation, "
                               "nothing was written", "stop the daemon first (Ctrl-C, SIGTERM "
                               "or POST /agent/shutdown), then run aman migrate-store again"
                               ) from None
            held.append(lock)
        yield
    finally:
        for lock in reversed(held):
            lock.release()


def _progress(name: str, rows: int) -> None:
    click.echo(f"copied {name} ({rows} rows)", err=True)


def _summary(report: TransferReport) -> None:
    rows: list[dict[str, Any]] = [
        {"table": t.name, "source_rows": t.source_rows, "target_rows": t.target_rows,
         "check": "ok" if t.matches else "DIFFERS"} for t in report.tables]
    table(rows, ["table", "source_rows", "target_rows", "check"])
    for name, why in report.skipped:
        click.echo(f"not copied: {name} ({why})")
    if report.upgraded_from is not None:
        click.echo(f"the source's schema was brought from version {report.upgraded_from} to "
                   f"{report.schema_version} first")
    audit = report.audit
    click.echo(f"audit chain verified on the target: {audit.checked} records" if audit.ok
               else "audit chain does NOT verify on the target")
    if report.ok:
        click.echo(f"moved {report.source.describe()} to {report.target.describe()} "
                   f"(schema {report.schema_version}, {sum(t.target_rows for t in report.tables)}"
                   f" rows, {report.seconds:.1f} s); set store.url to it, then start the daemon")
