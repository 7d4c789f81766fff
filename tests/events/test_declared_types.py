"""Event types are declared one way: one ``(type, description)`` table per feature, registered in
one place, each type once, and only types something emits."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from aman.core.event_types import declared_event_types, feature_tables

PACKAGE = Path(__file__).resolve().parents[2] / "aman"
TABLE_NAMES = {"EVENT_TYPES", "BUILTIN_TYPES", "TURN_EVENT_TYPES", "REACT_EVENT_TYPES"}


def declared() -> list[tuple[str, str, str]]:
    return [(owner, event_type, description) for owner, table in feature_tables()
            for event_type, description in table]


def test_every_type_is_declared_once_with_a_description() -> None:
    rows = declared()
    twice = [t for t, n in Counter(t for _, t, _ in rows).items() if n > 1]
    assert twice == []
    assert [t for _, t, d in rows if not d.strip() or not d.endswith(".")] == []


def test_the_registry_lists_every_table_with_owner_and_description() -> None:
    listing = {t["event_type"]: t for t in declared_event_types().listing()}
    for owner, event_type, description in declared():
        entry = listing[event_type]
        assert (entry["owner"], entry["description"]) == (owner, description)
        assert entry["origin"] == ("builtin" if owner == "core" else "registered")


def test_a_core_type_cannot_be_withdrawn_or_taken() -> None:
    registry = declared_event_types()
    registry.register("agent:busy", "plugin:p")
    registry.unregister_owner("agents")
    registry.unregister_owner("plugin:p")
    assert registry.core_owner("agent:busy") == "agents"
    assert registry.core_owner("something.else") is None


def _constants_and_uses() -> tuple[dict[str, set[str]], set[str], set[str]]:
    """(type → names of constants holding it, names used outside tables, strings used in calls)."""
    constants: dict[str, set[str]] = {}
    used_names: set[str] = set()
    call_strings: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if names & TABLE_NAMES or any(n.isupper() for n in names):
                    skip.update(id(n) for t in targets for n in ast.walk(t))
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    for name in names:
                        constants.setdefault(node.value.value, set()).add(name)
                if names & TABLE_NAMES and node.value is not None:
                    skip.update(id(n) for n in ast.walk(node.value))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Name):
                used_names.add(node.id)
            elif isinstance(node, ast.Attribute):
                used_names.add(node.attr)
            elif isinstance(node, ast.Call):
                call_strings.update(a.value for a in node.args
                                    if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return constants, used_names, call_strings


def test_every_declared_type_is_emitted_somewhere() -> None:
    """A type is used when a constant holding it is read outside the tables, or it is passed
    as a literal to a call; a declared type nothing uses should go, with its docs."""
    constants, used_names, call_strings = _constants_and_uses()
    unused = [event_type for _, event_type, _ in declared()
              if not (constants.get(event_type, set()) & used_names)
              and event_type not in call_strings]
    assert unused == []
