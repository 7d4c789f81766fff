"""The store depends on models only: a repository may import the value types it stores (modules
named ``model``), ``aman.errors``, ``aman.ids``, the store itself, the standard library and the
database driver. Services sit above it and never below."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "aman" / "store"
#: Third-party modules the store may use: its database driver.
DRIVERS = ("aiosqlite", "asyncpg")
GROUND = ("aman.errors", "aman.ids")


def imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """Every module imported anywhere in the tree (TYPE_CHECKING and function bodies included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside the store package
                continue
            if node.module:
                found.append((node.lineno, node.module))
    return found


def allowed(module: str) -> bool:
    """Whether the store may import ``module``."""
    root = module.split(".")[0]
    if root in sys.stdlib_module_names or root == "__future__" or root in DRIVERS:
        return True
    if module in GROUND or module == "aman.store" or module.startswith("aman.store."):
        return True
    return module.startswith("aman.") and module.rsplit(".", 1)[-1] == "model"


def violations(source: str, name: str) -> list[str]:
    """``name:line module`` for each import the rule forbids."""
    tree = ast.parse(source, filename=name)
    return [f"{name}:{line} {module}" for line, module in imported_modules(tree)
            if not allowed(module)]


def test_the_store_imports_only_models_errors_and_ids() -> None:
    offenders: list[str] = []
    for path in sorted(STORE.rglob("*.py")):
        offenders += violations(path.read_text(), path.relative_to(STORE.parent).as_posix())
    assert offenders == []


def test_the_check_catches_a_service_import() -> None:
    planted = (
        "from __future__ import annotations\n"
        "import json\n"
        "from typing import TYPE_CHECKING\n"
        "import aiosqlite\n"
        "from aman.errors import StoreError\n"
        "from aman.audit.model import AuditRecord\n"
        "from aman.store.db import Database\n"
        "if TYPE_CHECKING:\n"
        "    from aman.audit.log import AuditLog\n"
        "def later() -> None:\n"
        "    import aman.notifications.service\n"
        "    import httpx\n"
    )
    assert violations(planted, "store/x.py") == [
        "store/x.py:9 aman.audit.log",
        "store/x.py:11 aman.notifications.service",
        "store/x.py:12 httpx",
    ]


def test_model_modules_are_recognised_by_their_last_name_only() -> None:
    assert allowed("aman.skills.model")
    assert allowed("aman.events.model")
    assert not allowed("aman.events.model_helpers")
    assert not allowed("aman.modelling")
    assert not allowed("aman.clock")


def test_contract_tests_reach_a_store_only_through_the_backend_registry() -> None:
    """So a second backend runs the same tests: only ``backends.py`` names an implementation."""
    contract = Path(__file__).resolve().parent / "contract"
    offenders = [
        f"{path.name}:{line} {module}"
        for path in sorted(contract.glob("test_*.py"))
        for line, module in imported_modules(ast.parse(path.read_text()))
        if module.split(".")[0] in ("sqlite3", *DRIVERS)
        or module == "aman.store" or module.startswith("aman.store.")
    ]
    assert offenders == []
