"""The suite's own rules: tests that drive the daemon carry the e2e marker, only those start it,
tests import helpers, never a conftest, and waits go through the shared helpers."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
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


# --- waits go through tests.helpers ----------------------------------------------------------

#: Where the one poll loop lives: ``wait_for`` and ``wait_for_sync``.
_WAITS_MODULE = TESTS / "helpers.py"
#: Calls that pause a loop before it looks again (a browser page's pause included).
_PAUSES = {"sleep", "wait_for_timeout"}


def _own_calls(loop: ast.While | ast.For | ast.AsyncFor) -> Iterator[ast.Call]:
    """The calls a loop makes itself, not those of functions it defines."""
    stack: list[ast.AST] = [*loop.body, *loop.orelse]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_retry_loop(node: ast.AST) -> bool:
    """A ``while`` loop, or a ``for`` over ``range(...)``: loops that try again, not ones that
    pace through items (a fake server sending tokens one by one may pause between them)."""
    if isinstance(node, ast.While):
        return True
    if isinstance(node, ast.For | ast.AsyncFor):
        call = node.iter
        return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) \
            and call.func.id == "range"
    return False


def hand_written_polls(source: str) -> list[int]:
    """Lines of loops that sleep and look again: a wait the shared helpers should do (they fail
    with what was awaited and the last value seen, on one generous timeout)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not _is_retry_loop(node):
            continue
        assert isinstance(node, ast.While | ast.For | ast.AsyncFor)
        for call in _own_calls(node):
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _PAUSES:
                lines.append(node.lineno)
                break
    return sorted(lines)


PLANTED = """
import asyncio, time
from time import sleep

def polls(page, ready, items, event):
    while not ready():                      # poll: sleeps and looks again
        time.sleep(0.1)
    for _ in range(100):                    # poll: the same, counted
        if ready():
            break
        sleep(0.05)
    while page.locator("x").count() < 2:    # poll: a browser page's pause
        page.wait_for_timeout(30)
    for item in items:                      # pacing through items: allowed
        time.sleep(0.01)
    while not event.is_set():               # waiting on an event: allowed
        event.wait(0.5)
    while True:                             # a function defined in a loop: its own business
        def later():
            time.sleep(1)
        break

async def polls_async(ready):
    while not ready():                      # poll: the asyncio flavour
        await asyncio.sleep(0)
"""


def test_hand_written_poll_loops_are_found() -> None:
    marked = [n for n, line in enumerate(PLANTED.splitlines(), 1) if "# poll:" in line]
    assert len(marked) == 4 and hand_written_polls(PLANTED) == marked


def test_no_test_polls_by_hand() -> None:
    """Waits on conditions use ``wait_for``/``wait_for_sync`` from tests.helpers."""
    offenders = [f"{path.relative_to(TESTS)}:{line}"
                 for path in sorted(TESTS.rglob("*.py")) if path != _WAITS_MODULE
                 for line in hand_written_polls(path.read_text(encoding="utf-8"))]
    assert offenders == []
