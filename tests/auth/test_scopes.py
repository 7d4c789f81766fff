from __future__ import annotations

import pytest

from aman.auth.scopes import allows, granted, required_scopes, unknown_scopes


@pytest.mark.parametrize(("method", "declared", "expected"), [
    ("GET", None, ("read",)),
    ("HEAD", None, ("read",)),
    ("POST", None, ("operate",)),
    ("DELETE", None, ("operate",)),
    ("get", None, ("read",)),
    ("POST", ("chat",), ("chat",)),
    ("GET", ("chat", "read"), ("chat", "read")),
])
def test_a_route_needs_its_declared_scope_else_one_by_method(
        method: str, declared: tuple[str, ...] | None, expected: tuple[str, ...]) -> None:
    assert required_scopes(method, declared) == expected


@pytest.mark.parametrize(("held", "required", "allowed"), [
    ({"read"}, ("read",), True),
    ({"read"}, ("operate",), False),
    ({"read"}, ("events:push",), False),
    ({"operate"}, ("read",), True),
    ({"operate"}, ("admin",), False),
    ({"admin"}, ("admin",), True),
    ({"admin"}, ("events:push",), True),
    ({"chat"}, ("chat", "read"), True),
    ({"chat"}, ("read",), False),
    ({"events:push"}, ("events:push", "operate"), True),
    (set(), ("read",), False),
])
def test_scopes_grant_what_the_table_says(held: set[str], required: tuple[str, ...],
                                          allowed: bool) -> None:
    assert allows(held, required) is allowed


def test_admin_grants_every_scope() -> None:
    assert granted({"admin"}) == {"read", "events:push", "chat", "operate", "admin"}


def test_unknown_scopes_are_named() -> None:
    assert unknown_scopes(["read", "root", "write"]) == ["root", "write"]
