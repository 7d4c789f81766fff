"""What a backup holds and how it goes back: the database plus the runtime dir's own content.

A backup is a ``.tar.gz`` whose ``manifest.json`` lists every file with its SHA-256 and size, the
schema version of the database and the aman version that wrote it. The database is copied with
SQLite's online backup, so a running daemon keeps working and every event it acknowledged before
the backup started is in the copy. Restore checks everything before it touches the runtime dir,
then moves the current state aside (never deletes it) and puts the backup's in place; the caller
holds the instance lock, so no daemon uses the dir meanwhile.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from aman import __version__
from aman.errors import AmanError
from aman.store.migrate import bundled_migrations
from aman.store.snapshot import copy_database, integrity_problems, schema_version

MANIFEST = "manifest.json"
FORMAT = 1
DATABASE = "aman.db"
#: The runtime dir's content besides the database: what the user or the agent made.
CONTENT = ("souls", "skills", "workflows", "memory", "plugins", "config.override.yaml")
#: The database file and the files that belong to it (they move together).
_DB_SUFFIXES = ("", "-wal", "-shm")
_CHUNK = 1 << 20


class BackupError(AmanError):
    """A backup cannot be made or restored; nothing was changed."""

    code = "backup_failed"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


@dataclass(frozen=True)
class BackupResult:
    """What ``create_backup`` wrote."""

    path: Path
    files: int
    bytes: int
    schema_version: int

    def to_json(self) -> dict[str, Any]:
        """Wire shape for ``--json``."""
        return {"path": str(self.path), "files": self.files, "bytes": self.bytes,
                "schema_version": self.schema_version}


@dataclass(frozen=True)
class RestoreResult:
    """What ``restore_backup`` put in place and where the previous state went."""

    runtime_dir: Path
    files: int
    schema_version: int
    aside: Path | None

    def to_json(self) -> dict[str, Any]:
        """Wire shape for ``--json``."""
        return {"runtime_dir": str(self.runtime_dir), "files": self.files,
                "schema_version": self.schema_version,
                "previous_state": str(self.aside) if self.aside else None}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def default_name() -> str:
    """``aman-backup-<UTC time>.tar.gz``."""
    return f"aman-backup-{_stamp()}.tar.gz"


def create_backup(runtime_dir: Path, target: Path,
                  database: Path | None = None) -> BackupResult:
    """Write a backup of ``runtime_dir`` and its SQLite ``database`` (default ``aman.db`` in it)
    to ``target`` (a file; replaced only when complete)."""
    database = database or runtime_dir / DATABASE
    if not database.is_file():
        raise BackupError(f"no database at {database}",
                          "point at the runtime dir the daemon uses (--home / --config)")
    with tempfile.TemporaryDirectory(prefix="aman-backup-") as tmp:
        staging = Path(tmp) / "state"
        staging.mkdir()
        copy_database(database, staging / DATABASE)
        for name in CONTENT:
            source = runtime_dir / name
            if source.is_dir():
                shutil.copytree(source, staging / name, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            elif source.is_file():
                shutil.copy2(source, staging / name)
        files = sorted(p for p in staging.rglob("*") if p.is_file() and not p.is_symlink())
        entries: list[dict[str, Any]] = [
            {"path": p.relative_to(staging).as_posix(), "sha256": _sha256(p),
             "size": p.stat().st_size} for p in files]
        version = schema_version(staging / DATABASE)
        manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                    "aman_version": __version__, "schema_version": version,
                    "runtime_dir": str(runtime_dir), "files": entries}
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            archive.addfile(info, io.BytesIO(data))
            for entry in entries:
                archive.add(staging / entry["path"], arcname=entry["path"], recursive=False)
        partial.chmod(0o600)  # it holds every secret the database holds
        partial.replace(target)
    return BackupResult(target, len(entries), sum(e["size"] for e in entries), version)


def read_manifest(archive_path: Path) -> dict[str, Any]:
    """The manifest of a backup, checked for shape; ``BackupError`` when it is not one."""
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive_path} is not an aman backup: {exc}",
                          "give the .tar.gz written by `aman backup`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive_path}: unknown backup format {manifest.get('format')!r}",
                          "restore it with the aman version that wrote it")
    return manifest


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _verify(manifest: dict[str, Any], staging: Path) -> None:
    listed = {e["path"]: e for e in manifest["files"]}
    present = {p.relative_to(staging).as_posix() for p in staging.rglob("*")
               if p.is_file() and not p.is_symlink()} - {MANIFEST}
    if missing := sorted(set(listed) - present):
        raise BackupError(f"the backup lacks files its manifest lists: {missing[:5]}",
                          "the archive is damaged; use another backup")
    if extra := sorted(present - set(listed)):
        raise BackupError(f"the backup holds files its manifest does not list: {extra[:5]}",
                          "the archive was altered; use another backup")
    for name, entry in listed.items():
        if _sha256(staging / name) != entry["sha256"]:
            raise BackupError(f"checksum mismatch for {name}",
                              "the archive is damaged; use another backup")
    latest = max(m.version for m in bundled_migrations())
    found = schema_version(staging / DATABASE)
    if found != manifest.get("schema_version"):
        raise BackupError(f"the database's schema version {found} is not the manifest's "
                          f"{manifest.get('schema_version')}", "use another backup")
    if found > latest:
        raise BackupError(f"the backup's schema version {found} is newer than this aman knows "
                          f"({latest})", f"restore it with aman {manifest.get('aman_version')} "
                                         "or newer")
    if problems := integrity_problems(staging / DATABASE):
        raise BackupError(f"the backup's database fails its integrity check: {problems[:3]}",
                          "use another backup")


def restore_backup(archive_path: Path, runtime_dir: Path,
                   database: Path | None = None) -> RestoreResult:
    """Verify a backup, move ``runtime_dir``'s state aside and put the backup's in place (the
    database at ``database``, default ``aman.db`` in the runtime dir).

    The caller must hold the runtime dir's instance lock.
    """
    database = database or runtime_dir / DATABASE
    manifest = read_manifest(archive_path)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=runtime_dir))
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            members = archive.getmembers()
            if bad := [m.name for m in members if not _safe(m.name)]:
                raise BackupError(f"the backup holds unsafe paths: {bad[:3]}",
                                  "it was not written by `aman backup`; do not restore it")
            archive.extractall(staging, filter="data")
        _verify(manifest, staging)
        aside = _move_aside(runtime_dir, database)
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging / DATABASE, database)
        for name in CONTENT:
            if (staging / name).exists():
                (staging / name).replace(runtime_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(runtime_dir, len(manifest["files"]), int(manifest["schema_version"]),
                         aside)


def _move_aside(runtime_dir: Path, database: Path) -> Path | None:
    """Move the current database and content into ``before-restore-<time>/``; None if empty."""
    files = [database.with_name(database.name + suffix) for suffix in _DB_SUFFIXES]
    present = [p for p in (*files, *(runtime_dir / n for n in CONTENT)) if p.exists()]
    if not present:
        return None
    aside = runtime_dir / f"before-restore-{_stamp()}"
    aside.mkdir()
    for path in present:
        shutil.move(path, aside / path.name)
    return aside
