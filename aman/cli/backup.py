"""``aman backup [PATH]`` and ``aman restore PATH``: the whole state in one ``.tar.gz``.

Backup works while the daemon runs (SQLite's online backup); restore refuses while a daemon holds
the runtime dir and holds the instance lock itself while it works, so none can start meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import click

from aman.cli.client import CliError
from aman.cli.connect import common_options, options, yes_option
from aman.cli.output import confirm, emit


def register(cli: click.Group) -> None:
    """Add ``backup`` and ``restore``."""
    cli.add_command(backup)
    cli.add_command(restore)


def _sqlite_only(store_url: str | None) -> None:
    if store_url and store_url.startswith(("postgresql://", "postgres://")):
        raise CliError("aman backup and restore handle the SQLite store; this config's store.url "
                       "is PostgreSQL", "back the database up with pg_dump (pg_restore to put it "
                       "back); the runtime dir's files are plain folders to copy")


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@common_options
def backup(path: Path | None) -> None:
    """Write a consistent backup of the runtime dir (default: ./aman-backup-<time>.tar.gz)."""
    from aman.backup import BackupError, create_backup
    from aman.backup.archive import default_name
    from aman.errors import StoreError

    settings = options().settings()
    _sqlite_only(settings.store.url)
    runtime_dir = settings.runtime.dir
    target = path or Path(default_name())
    if target.is_dir():
        target = target / default_name()
    try:
        result = create_backup(runtime_dir, target.expanduser().resolve(),
                               settings.database_path)
    except (BackupError, StoreError) as exc:
        raise CliError(exc.message, exc.hint) from None
    emit(result.to_json(), lambda r: click.echo(
        f"backup of {runtime_dir} written to {r['path']} ({r['files']} files, "
        f"{r['bytes']} bytes, schema {r['schema_version']})"))


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@common_options
@yes_option
def restore(path: Path) -> None:
    """Restore a backup into the runtime dir (the daemon must be stopped)."""
    from aman.backup import BackupError, restore_backup
    from aman.core.lock import InstanceLock
    from aman.errors import LockHeldError, StoreError

    settings = options().settings()
    _sqlite_only(settings.store.url)
    runtime_dir = settings.runtime.dir
    lock = InstanceLock(runtime_dir)
    try:
        lock.acquire()
    except LockHeldError as exc:
        raise CliError(f"{exc.message}; restore refuses while a daemon runs",
                       "stop it first (Ctrl-C, SIGTERM or POST /agent/shutdown), then "
                       "run aman restore again") from None
    try:
        confirm(f"replace the state in {runtime_dir} with {path.name} (the current state is "
                "kept aside)")
        result = restore_backup(path.resolve(), runtime_dir, settings.database_path)
    except (BackupError, StoreError) as exc:
        raise CliError(exc.message, exc.hint) from None
    finally:
        lock.release()
    emit(result.to_json(), lambda r: click.echo(
        f"restored {r['files']} files (schema {r['schema_version']}) into {r['runtime_dir']}"
        + (f"; the previous state is in {r['previous_state']}" if r["previous_state"] else "")))
