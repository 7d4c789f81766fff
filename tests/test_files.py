"""Atomic file replacement: all or nothing, modes kept, no temp files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aman.files import write_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_content_and_keeps_the_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "SKILL.md"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_atomically(path, "new\r\nline")
    assert path.read_bytes() == b"new\r\nline" and mode_of(path) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["SKILL.md"]


def test_a_new_file_is_private_unless_a_mode_is_given(tmp_path: Path) -> None:
    write_atomically(tmp_path / "a", "x")
    write_atomically(tmp_path / "b", "x", mode=0o644)
    assert (mode_of(tmp_path / "a"), mode_of(tmp_path / "b")) == (0o600, 0o644)


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "soul.md"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "bad \udc80 surrogate")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["soul.md"]
