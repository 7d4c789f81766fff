"""The layer rules of docs/architecture.md, checked by walking the package's imports and strings.

Each rule is a function from modules to violations, so it runs on the real package (no
violation allowed) and on a planted violation (the checker itself must see it).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aman"
MAX_LINES = 450
_SQL = re.compile(
    r"\b(SELECT\b.+\bFROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX|TRIGGER)"
    r"|PRAGMA \w+|BEGIN IMMEDIATE|ROLLBACK|COMMIT)\b",
    re.S,
)


@dataclass(frozen=True)
class Module:
    """One module of the package: its path below the repository root (no suffix) and its text."""

    name: str  # e.g. "aman/core/runtime"
    source: str

    @property
    def tree(self) -> ast.Module:
        return _parse(self.name, self.source)

    @property
    def dotted(self) -> str:
        return self.name.removesuffix("/__init__").replace("/", ".")


@functools.cache
def _parse(name: str, source: str) -> ast.Module:
    return ast.parse(source, filename=name)


def package_modules() -> list[Module]:
    return [Module(path.relative_to(PACKAGE.parent).with_suffix("").as_posix(), path.read_text())
            for path in sorted(PACKAGE.rglob("*.py"))]


def imported(module: Module, *, type_checking: bool) -> set[str]:
    """Module names ``module`` imports (``from a import b`` counts ``a`` and ``a.b``), relative
    imports resolved; with ``type_checking``, imports under ``if TYPE_CHECKING:`` count too."""
    names: set[str] = set()
    dotted = module.dotted
    package = dotted if module.name.endswith("__init__") else dotted.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if (not type_checking and isinstance(node, ast.If)
                and getattr(node.test, "id", None) == "TYPE_CHECKING"):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(module.tree)
    return names


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def violations(modules: list[Module], where: Callable[[Module], bool],
               bad: Callable[[str], bool], *, type_checking: bool) -> list[str]:
    """One line per module under ``where`` that imports a name ``bad`` accepts."""
    found = []
    for m in modules:
        if where(m):
            names = sorted(n for n in imported(m, type_checking=type_checking) if bad(n))
            if names:
                found.append(f"{m.name} imports {', '.join(names)}")
    return found


Rule = Callable[[list[Module]], list[str]]


def only_in(roots: tuple[str, ...], allowed: tuple[str, ...]) -> Rule:
    """Only modules under ``allowed`` (path prefixes) may import ``roots`` (at run time)."""
    def rule(modules: list[Module]) -> list[str]:
        return violations(modules, lambda m: not m.name.startswith(allowed),
                          lambda n: _under(n, roots), type_checking=False)
    return rule


def runtime_class_only_in_the_composition_root(modules: list[Module]) -> list[str]:
    """Only core/ and http/ (whose accessor hands routes the runtime) import the Runtime."""
    return violations(modules, lambda m: not m.name.startswith(("aman/core/", "aman/http/")),
                      lambda n: _under(n, ("aman.core.runtime",)), type_checking=True)


def store_imports_only_models(modules: list[Module]) -> list[str]:
    """The store depends on models, errors and ids, never on a service."""
    def allowed(name: str) -> bool:
        if not name.startswith("aman.") and name != "aman":
            return True
        if name == "aman" or _under(name, ("aman.errors", "aman.ids", "aman.store")):
            return True
        parts = name.split(".")
        # a model module (aman.x.model, aman.x.y.model) or a name imported from one
        return "model" in parts[2:] or parts[-1] == "model" or (
            len(parts) > 2 and parts[-2] == "model")
    return violations(modules, lambda m: m.name.startswith("aman/store/"),
                      lambda n: not allowed(n), type_checking=True)


def llm_never_imports_chat(modules: list[Module]) -> list[str]:
    """Providers know the completion protocol, not chat sessions."""
    return violations(modules, lambda m: m.name.startswith("aman/llm/"),
                      lambda n: _under(n, ("aman.chat",)), type_checking=True)


def events_stay_below_services(modules: list[Module]) -> list[str]:
    """The bus imports nothing from HTTP, plugins or the wiring (the task tracker is fine)."""
    forbidden = ("aman.http", "aman.plugins", "aman.core.runtime", "aman.core.app",
                 "aman.core.boot", "aman.core.steps", "aman.core.daemon", "quart")
    return violations(modules, lambda m: m.name.startswith("aman/events/"),
                      lambda n: _under(n, forbidden), type_checking=False)


def errors_import_nothing_from_aman(modules: list[Module]) -> list[str]:
    """The error tree is the ground floor: everything imports it, it imports nothing of ours."""
    return violations(modules, lambda m: m.name == "aman/errors",
                      lambda n: _under(n, ("aman",)), type_checking=True)


def sql_only_in_the_store(modules: list[Module]) -> list[str]:
    """SQL text lives in store repositories only."""
    return sorted(f"{m.name}:{node.lineno} holds SQL" for m in modules
                  if not m.name.startswith("aman/store/")
                  for node in ast.walk(m.tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and _SQL.search(node.value))


def routes_use_the_accessor(modules: list[Module]) -> list[str]:
    """Routes reach the runtime through ``aman.http.context``, never ``app.extensions``."""
    return sorted(f"{m.name}:{node.lineno} reads .extensions" for m in modules
                  if m.name.startswith("aman/http/routes/")
                  for node in ast.walk(m.tree)
                  if isinstance(node, ast.Attribute) and node.attr == "extensions")


def nothing_runs_at_import(modules: list[Module]) -> list[str]:
    """No module-level app, registry, connection, plugin manager or runtime."""
    constructors = {"Quart", "CollectorRegistry", "PluginManager", "connect", "Database", "Runtime"}
    found = []
    for m in modules:
        for node in m.tree.body:
            value = getattr(node, "value", None)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call):
                called = getattr(value.func, "id", None) or getattr(value.func, "attr", None)
                if called in constructors:
                    found.append(f"{m.name}:{node.lineno} builds {called} at import")
    return found


def modules_stay_small(modules: list[Module]) -> list[str]:
    """A module over MAX_LINES physical lines is split by concept."""
    return sorted(f"{m.name} has {len(m.source.splitlines())} lines" for m in modules
                  if len(m.source.splitlines()) > MAX_LINES)


RULES: dict[str, Rule] = {
    "quart only in http and core": only_in(
        ("quart", "quart_schema", "hypercorn", "werkzeug"), ("aman/http/", "aman/core/")),
    "database drivers only in store": only_in(("aiosqlite", "sqlite3", "asyncpg"),
                                              ("aman/store/",)),
    "pluggy only in plugins": only_in(("pluggy",), ("aman/plugins/",)),
    "SDKs only in llm": only_in(("openai", "anthropic", "llama_cpp"), ("aman/llm/",)),
    "MCP SDK only in mcp": only_in(("mcp", "mcp_types", "httpx2"), ("aman/mcp/",)),
    "runtime class only in the composition root": runtime_class_only_in_the_composition_root,
    "store imports only models": store_imports_only_models,
    "llm never imports chat": llm_never_imports_chat,
    "events stay below services": events_stay_below_services,
    "errors import nothing from aman": errors_import_nothing_from_aman,
    "sql only in the store": sql_only_in_the_store,
    "routes use the accessor": routes_use_the_accessor,
    "nothing runs at import": nothing_runs_at_import,
    "modules stay small": modules_stay_small,
}

ALL = package_modules()


@pytest.mark.parametrize("rule", RULES)
def test_the_package_keeps_the_rule(rule: str) -> None:
    assert RULES[rule](ALL) == []


#: One planted violation per rule: modules that must make the checker complain.
PLANTED: dict[str, list[Module]] = {
    "quart only in http and core": [Module("aman/chat/view", "import quart\n")],
    "database drivers only in store": [Module("aman/usage/pg", "import asyncpg\n")],
    "pluggy only in plugins": [Module("aman/tools/hooks", "from pluggy import HookimplMarker\n")],
    "SDKs only in llm": [Module("aman/chat/direct", "import openai\n")],
    "MCP SDK only in mcp": [Module("aman/tools/remote", "from mcp import ClientSession\n")],
    "runtime class only in the composition root": [Module(
        "aman/skills/registry",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from aman.core.runtime import Runtime\n")],
    "store imports only models": [Module("aman/store/soul", "from aman.soul.service import X\n")],
    "llm never imports chat": [Module("aman/llm/openai", "from aman.chat.turn import Turn\n")],
    "events stay below services": [Module("aman/events/bus", "from aman.http import errors\n")],
    "errors import nothing from aman": [Module("aman/errors", "from aman.ids import uuid7\n")],
    "sql only in the store": [Module("aman/cron/service", "Q = 'SELECT id FROM jobs'\n")],
    "routes use the accessor": [Module("aman/http/routes/x", "rt = app.extensions['rt']\n")],
    "nothing runs at import": [Module("aman/http/app",
                                      "from quart import Quart\nAPP = Quart('a')\n")],
    "modules stay small": [Module("aman/chat/huge", "x = 1\n" * (MAX_LINES + 1))],
}

#: Look-alikes each rule must accept (the rules are not simply "anything matching fails").
ACCEPTED: dict[str, list[Module]] = {
    "store imports only models": [Module("aman/store/soul",
                                         "from aman.soul.model import SoulVersion\n"
                                         "from aman.errors import NotFoundError\n")],
    "runtime class only in the composition root": [Module(
        "aman/core/steps",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from aman.core.runtime import Runtime\n")],
    "modules stay small": [Module("aman/chat/fits", "x = 1\n" * MAX_LINES)],
    "llm never imports chat": [Module("aman/llm/openai", "from aman.llm.provider import Delta\n")],
    "MCP SDK only in mcp": [Module("aman/cli/mcp", "from aman.mcp.serve import serve_stdio\n")],
}


def test_every_rule_has_a_planted_violation() -> None:
    assert set(PLANTED) == set(RULES)


@pytest.mark.parametrize("rule", RULES)
def test_the_checker_sees_a_planted_violation(rule: str) -> None:
    found = RULES[rule](PLANTED[rule])
    assert len(found) == 1, found


@pytest.mark.parametrize("rule", ACCEPTED)
def test_the_checker_accepts_look_alikes(rule: str) -> None:
    assert RULES[rule](ACCEPTED[rule]) == []


def test_relative_imports_are_resolved() -> None:
    module = Module("aman/store/soul", "from ..soul.service import X\n")
    assert "aman.soul.service" in imported(module, type_checking=True)
    assert RULES["store imports only models"]([module]) != []
