"""The suite's own rules: tests that drive the daemon carry the e2e marker, only those start it,
and tests import helpers, never a conftest."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import E2E_DIR, is_daemon_command, unmarked_e2e

TESTS = Path(__file__).resolve().parent


@dataclass
class _Item:
    nodeid: str
    path: Path
    marked: bool

    def get_closest_marker(self, name: str) -> object | None:
        return object() if self.marked and name == "e2e" else None


def test_an_unmarked_e2e_test_is_reported_and_others_are_not() -> None:
    items = [_Item("tests/e2e/test_x.py::test_a", E2E_DIR / "test_x.py", marked=False),
             _Item("tests/e2e/test_y.py::test_b", E2E_DIR / "test_y.py", marked=True),
             _Item("tests/ui/test_w.py::test_d", TESTS / "ui" / "test_w.py", marked=False),
             _Item("tests/test_z.py::test_c", TESTS / "test_z.py", marked=False)]
    assert unmarked_e2e(items) == ["tests/e2e/test_x.py::test_a"]


def test_every_e2e_module_sets_the_marker() -> None:
    """What the collection check enforces per test, read from the files themselves."""
    unmarked = [path.name for path in sorted(E2E_DIR.glob("test_*.py"))
                if "pytestmark = pytest.mark.e2e" not in path.read_text(encoding="utf-8")]
    assert unmarked == []


@pytest.mark.parametrize(("args", "starts"), [
    ([sys.executable, "-m", "aman", "run", "--bind", "127.0.0.1:1"], True),
    (["/usr/local/bin/aman", "run"], True),
    ("python -m aman run", True),
    ([sys.executable, "-m", "aman", "config", "show"], False),
    (["sh", "-c", "echo run"], False),
])
def test_daemon_commands_are_recognised(args: object, starts: bool) -> None:
    assert is_daemon_command(args) is starts


def test_a_test_not_marked_e2e_cannot_start_the_daemon(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="only tests marked e2e may start the daemon"):
        subprocess.Popen([sys.executable, "-m", "aman", "run", "--home", str(tmp_path)])
    done = subprocess.run([sys.executable, "-c", "print('other commands run')"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == "other commands run\n"


def test_no_test_imports_a_conftest() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if (node.module or "").split(".")[-1] == "conftest":
                offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert offenders == []
