"""Backup archives: round trip, the previous state kept aside, and every refusal changes nothing."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

import pytest

from aman.backup import BackupError, create_backup, read_manifest, restore_backup
from aman.store.db import Database
from aman.store.migrate import migrate

CONTENT = {
    "souls/mine.md": "# Mine\n",
    "skills/notes/SKILL.md": "---\nname: notes\n---\nTake notes.\n",
    "workflows/flow.yaml": "name: flow\n",
    "memory/facts.md": "the sky is blue\n",
    "plugins/p/plugin.yaml": "name: p\n",
    "config.override.yaml": "event_bus:\n  max_queue_size: 1234\n",
}


async def make_runtime_dir(path: Path, *, marker: str = "original") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    db = Database(path / "aman.db")
    await db.open()
    await migrate(db)
    await db.close()
    with closing(sqlite3.connect(path / "aman.db")) as conn, conn:
        conn.execute("CREATE TABLE IF NOT EXISTS test_marker (v TEXT)")
        conn.execute("INSERT INTO test_marker VALUES (?)", (marker,))
    for name, text in CONTENT.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def marker(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM test_marker")]


def rewrite(archive: Path, target: Path, change: dict[str, bytes]) -> Path:
    """Copy ``archive`` to ``target`` with some members' bytes replaced (manifest untouched)."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            data = change.get(member.name)
            if data is None:
                extracted = source.extractfile(member)
                data = extracted.read() if extracted else b""
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
        for name, data in change.items():
            if name not in source.getnames():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    return target


async def test_round_trip_restores_every_file_and_the_database(tmp_path: Path) -> None:
    source = await make_runtime_dir(tmp_path / "source")
    result = create_backup(source, tmp_path / "b.tar.gz")
    manifest = read_manifest(result.path)
    assert manifest["schema_version"] == result.schema_version > 0
    listed = {e["path"] for e in manifest["files"]}
    assert listed == {"aman.db", *CONTENT}
    assert all(len(e["sha256"]) == 64 for e in manifest["files"])
    assert oct(result.path.stat().st_mode & 0o777) == "0o600"

    restored = restore_backup(result.path, tmp_path / "fresh")
    assert restored.aside is None and restored.files == len(listed)
    for name, text in CONTENT.items():
        assert (tmp_path / "fresh" / name).read_text() == text
    assert marker(tmp_path / "fresh" / "aman.db") == ["original"]


async def test_restore_keeps_the_current_state_aside(tmp_path: Path) -> None:
    source = await make_runtime_dir(tmp_path / "source")
    archive = create_backup(source, tmp_path / "b.tar.gz").path
    target = await make_runtime_dir(tmp_path / "target", marker="current")
    (target / "skills" / "only-here.md").write_text("mine")
    (target / "logs").mkdir()
    result = restore_backup(archive, target)
    assert result.aside is not None and result.aside.parent == target
    assert marker(result.aside / "aman.db") == ["current"]
    assert (result.aside / "skills" / "only-here.md").read_text() == "mine"
    assert marker(target / "aman.db") == ["original"]
    assert not (target / "skills" / "only-here.md").exists()
    assert (target / "logs").is_dir()  # not part of the state: left where it is


@pytest.mark.parametrize("tamper", ["changed", "added", "removed"])
async def test_a_damaged_archive_is_refused_and_nothing_changes(tmp_path: Path,
                                                               tamper: str) -> None:
    source = await make_runtime_dir(tmp_path / "source")
    archive = create_backup(source, tmp_path / "b.tar.gz").path
    if tamper == "changed":
        bad = rewrite(archive, tmp_path / "bad.tar.gz", {"memory/facts.md": b"the sky is red\n"})
    elif tamper == "added":
        bad = rewrite(archive, tmp_path / "bad.tar.gz", {"souls/extra.md": b"x"})
    else:
        manifest = read_manifest(archive)
        manifest["files"].append({"path": "souls/gone.md", "sha256": "0" * 64, "size": 1})
        bad = rewrite(archive, tmp_path / "bad.tar.gz",
                      {"manifest.json": json.dumps(manifest).encode()})
    target = await make_runtime_dir(tmp_path / "target", marker="current")
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    with pytest.raises(BackupError):
        restore_backup(bad, target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert marker(target / "aman.db") == ["current"]


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    source = await make_runtime_dir(tmp_path / "source")
    with closing(sqlite3.connect(source / "aman.db")) as conn, conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, '9999_future.sql', 0)")
    archive = create_backup(source, tmp_path / "b.tar.gz").path
    with pytest.raises(BackupError, match="newer than this aman knows"):
        restore_backup(archive, tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "aman.db").exists()


async def test_unsafe_paths_and_non_backups_are_refused(tmp_path: Path) -> None:
    source = await make_runtime_dir(tmp_path / "source")
    archive = create_backup(source, tmp_path / "b.tar.gz").path
    evil = rewrite(archive, tmp_path / "evil.tar.gz", {"../escaped.txt": b"x"})
    with pytest.raises(BackupError, match="unsafe paths"):
        restore_backup(evil, tmp_path / "fresh")
    assert not (tmp_path / "escaped.txt").exists()
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(BackupError, match="not an aman backup"):
        read_manifest(junk)


def test_no_database_no_backup(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        create_backup(tmp_path, tmp_path / "b.tar.gz")


async def test_a_database_outside_the_default_name_goes_back_where_it_was(tmp_path: Path) -> None:
    source = await make_runtime_dir(tmp_path / "source")
    custom = source / "data" / "state.db"
    custom.parent.mkdir()
    (source / "aman.db").rename(custom)
    archive = create_backup(source, tmp_path / "b.tar.gz", custom).path
    target = tmp_path / "fresh"
    restore_backup(archive, target, target / "data" / "state.db")
    assert marker(target / "data" / "state.db") == ["original"]
    assert not (target / "aman.db").exists()
