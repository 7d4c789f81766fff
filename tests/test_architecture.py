"""The layer rules of docs/architecture.md, checked by walking the package's imports and strings."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aman"
_SQL = re.compile(
    r"\b(SELECT\b.+\bFROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX|TRIGGER)"
    r"|PRAGMA \w+|BEGIN IMMEDIATE|ROLLBACK|COMMIT)\b",
    re.S,
)


def modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("").as_posix()
        found.append((relative, ast.parse(path.read_text(), filename=str(path))))
    return found


def runtime_imports(tree: ast.Module) -> set[str]:
    """Imported module names, ignoring those under ``if TYPE_CHECKING:``."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def imports_any(names: set[str], roots: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == r or n.startswith(r + ".") for r in roots)}


ALL = modules()


@pytest.mark.parametrize(
    ("roots", "allowed"),
    [
        (("quart", "quart_schema", "hypercorn", "werkzeug"),
         ("aman/http/", "aman/core/app", "aman/core/daemon")),
        (("aiosqlite", "sqlite3"), ("aman/store/",)),
        (("pluggy",), ("aman/plugins/",)),
        (("openai", "anthropic", "llama_cpp"), ("aman/llm/",)),
    ],
)
def test_third_party_imports_stay_in_their_layer(roots: tuple[str, ...],
                                                 allowed: tuple[str, ...]) -> None:
    offenders = {
        name: sorted(imports_any(runtime_imports(tree), roots))
        for name, tree in ALL
        if not name.startswith(allowed) and imports_any(runtime_imports(tree), roots)
    }
    assert offenders == {}


def test_sql_lives_only_in_the_store_package() -> None:
    offenders = []
    for name, tree in ALL:
        if name.startswith("aman/store/"):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and _SQL.search(node.value)):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_errors_module_imports_nothing_from_aman() -> None:
    tree = dict(ALL)["aman/errors"]
    assert not imports_any(runtime_imports(tree), ("aman",))


def test_events_package_stays_free_of_http_plugins_and_services() -> None:
    forbidden = ("aman.http", "aman.plugins", "aman.core.app", "aman.core.runtime", "quart")
    offenders = {
        name: sorted(imports_any(runtime_imports(tree), forbidden))
        for name, tree in ALL
        if name.startswith("aman/events/") and imports_any(runtime_imports(tree), forbidden)
    }
    assert offenders == {}


def test_only_the_composition_root_and_http_reach_the_runtime_class() -> None:
    allowed = ("aman/core/", "aman/http/")
    offenders = [
        name
        for name, tree in ALL
        if not name.startswith(allowed) and "aman.core.runtime" in runtime_imports(tree)
    ]
    assert offenders == []


def test_routes_reach_the_runtime_only_through_the_accessor() -> None:
    offenders = []
    for name, tree in ALL:
        if not name.startswith("aman/http/routes/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "extensions":
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_nothing_runs_at_import() -> None:
    """No module-level app, registry, connection or plugin manager (habit 1)."""
    constructors = {"Quart", "CollectorRegistry", "PluginManager", "connect", "Database", "Runtime"}
    offenders = []
    for name, tree in ALL:
        for node in tree.body:
            value = getattr(node, "value", None)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call):
                func = value.func
                called = getattr(func, "id", None) or getattr(func, "attr", None)
                if called in constructors:
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_modules_stay_small() -> None:
    big = {name: len(ast.unparse(tree).splitlines()) for name, tree in ALL}
    assert {name: n for name, n in big.items() if n > 450} == {}
