"""EventFilter: which events a subscriber (or a stream client, or a skill trigger) wants."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from aman.events.model import Event, Priority


class EventMatcher(Protocol):
    """What a subscriber filters with: an ``EventFilter`` or any object with ``matches``."""

    def matches(self, event: Event) -> bool:
        """Whether the subscriber wants ``event``."""
        ...


def payload_matches(expected: Any, actual: Any) -> bool:
    """Recursive subset match: every key in ``expected`` must match in ``actual``.

    Lists match element-wise with equal length; scalars must be equal.
    """
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and payload_matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(payload_matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def _glob_match(patterns: frozenset[str], value: str) -> bool:
    return value in patterns or any(fnmatchcase(value, p) for p in patterns if "*" in p or "?" in p)


@dataclass(frozen=True)
class EventFilter:
    """All given criteria must hold; ``None`` means any. Types and sources accept ``*`` globs."""

    event_types: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    priorities: frozenset[Priority] | None = None
    payload: dict[str, Any] | None = None

    def matches(self, event: Event) -> bool:
        """Whether ``event`` passes this filter."""
        if self.event_types is not None and not _glob_match(self.event_types, event.event_type):
            return False
        if self.sources is not None and not _glob_match(self.sources, event.source):
            return False
        if self.priorities is not None and event.priority not in self.priorities:
            return False
        return self.payload is None or payload_matches(self.payload, event.payload)
