"""Which scope a route needs, and whether a key's scopes grant it. Pure rules, table-tested.

A route may name its scope in its policy; otherwise the method decides: safe methods need
``read``, the others ``operate``. ``admin`` grants every scope and ``operate`` grants ``read``.
A route may accept one of several scopes (the chat routes' reads take ``chat`` or ``read``).
"""

from __future__ import annotations

from collections.abc import Iterable

from aman.auth.model import ADMIN, SCOPES

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: What holding a scope also grants.
_IMPLIES: dict[str, frozenset[str]] = {
    ADMIN: frozenset(SCOPES),
    "operate": frozenset({"operate", "read"}),
}


def required_scopes(method: str, declared: tuple[str, ...] | None) -> tuple[str, ...]:
    """The scopes that open a route: its declared ones, else ``read`` or ``operate`` by method."""
    if declared:
        return declared
    return ("read",) if method.upper() in _SAFE_METHODS else ("operate",)


def granted(held: Iterable[str]) -> frozenset[str]:
    """Every scope the ``held`` ones grant."""
    out: set[str] = set()
    for scope in held:
        out |= _IMPLIES.get(scope, frozenset({scope}))
    return frozenset(out)


def allows(held: Iterable[str], required: tuple[str, ...]) -> bool:
    """Whether scopes ``held`` open a route that needs any of ``required``."""
    return bool(granted(held) & set(required))


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    """The names in ``scopes`` that are not scopes."""
    return sorted(set(scopes) - set(SCOPES))
