"""The soul's stored history: one version per content it had, and the port a store implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class SoulVersion:
    """One content the soul had."""

    id: int
    soul: str
    hash: str
    content: str
    operator: str
    reason: str
    created_at_ms: int

    def to_json(self, *, with_content: bool = False) -> dict[str, object]:
        """Wire shape (content only on request: it can be 64 KiB)."""
        data: dict[str, object] = {
            "id": self.id, "soul": self.soul, "hash": self.hash, "operator": self.operator,
            "reason": self.reason, "created_at_ms": self.created_at_ms,
        }
        if with_content:
            data["content"] = self.content
        return data


class SoulRepository(Protocol):
    """Storage port for the version history."""

    async def add(self, *, soul: str, hash: str, content: str, operator: str, reason: str,
                  created_at_ms: int) -> SoulVersion:
        """Store one version."""
        ...

    async def latest(self, soul: str) -> SoulVersion | None:
        """The newest version."""
        ...

    async def list(self, soul: str, limit: int) -> list[SoulVersion]:
        """Versions, newest first."""
        ...
