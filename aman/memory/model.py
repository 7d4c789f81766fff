"""Memory files, their versions, and the errors a write can meet; pure values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aman.errors import ConflictError, InvalidInputError

#: The two files each agent has, by the name the tools and routes use.
FILES: dict[str, str] = {"memory": "MEMORY.md", "user": "USER.md"}
MEMORY_UPDATED = "memory:updated"
FLUSH_RAN = "memory:flush_ran"
EVENT_TYPES: tuple[tuple[str, str], ...] = (
    (MEMORY_UPDATED, "A memory file changed: by the agent, a person or an edit on disk."),
    (FLUSH_RAN, "The agent saved memories before old messages left its context."),
)


@dataclass(frozen=True, kw_only=True)
class MemoryVersion:
    """One stored content of a memory file, with who made it and why."""

    agent_id: str
    target: str  # memory | user
    version: int
    content: str
    author: str
    reason: str
    ts_ms: int

    def to_json(self, *, with_content: bool = False) -> dict[str, Any]:
        """The wire shape (the content only when asked for)."""
        out: dict[str, Any] = {"version": self.version, "author": self.author,
                               "reason": self.reason, "ts": self.ts_ms,
                               "chars": len(self.content)}
        if with_content:
            out["content"] = self.content
        return out


@dataclass(frozen=True)
class MemoryFile:
    """A memory file as the agent and the routes see it."""

    target: str
    entries: tuple[str, ...]
    limit: int
    version: int
    flagged: tuple[int, ...] = field(default=())  # entries that read like instructions

    @property
    def chars(self) -> int:
        """Characters the entries take (separators excluded)."""
        return sum(len(e) for e in self.entries)

    def usage(self) -> str:
        """``61 % — 2 440/4 000``."""
        percent = round(100 * self.chars / self.limit) if self.limit else 0
        return f"{percent} % — {self.chars:,}/{self.limit:,}".replace(",", " ")

    def to_json(self) -> dict[str, Any]:
        """The wire shape."""
        return {"target": self.target, "file": FILES[self.target], "version": self.version,
                "chars": self.chars, "limit": self.limit, "usage": self.usage(),
                "entries": [{"index": i, "text": text, "flagged": i in self.flagged}
                            for i, text in enumerate(self.entries)]}


class MemoryWriteError(InvalidInputError):
    """A memory operation that cannot apply as asked (nothing was written)."""

    code = "memory_write_failed"
    hint = "Read the message: it says what to change in the operation."


class MemoryFullError(MemoryWriteError):
    """The write would pass the file's limit; entries are never cut to make room."""

    code = "memory_full"
    hint = "Consolidate: replace several entries with one shorter entry, or remove stale ones."


class VersionConflictError(ConflictError):
    """A write based on an older version of the file (someone changed it meanwhile)."""

    code = "version_conflict"
    hint = "Read the file again (GET .../memory), redo the change on the new version."


class MemoryRepository(Protocol):
    """Storage port for memory versions and full-text search."""

    async def latest(self, agent_id: str, target: str) -> MemoryVersion | None:
        """The newest stored version of a file."""
        ...

    async def version(self, agent_id: str, target: str, version: int) -> MemoryVersion | None:
        """One stored version."""
        ...

    async def versions(self, agent_id: str, target: str) -> list[MemoryVersion]:
        """Every version of a file, newest first."""
        ...

    async def add(self, version: MemoryVersion) -> None:
        """Store a new version (committed on return)."""
        ...

    async def reindex(self, agent_id: str, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Replace the agent's searchable memory with ``(path, line, ts, text)`` rows."""
        ...

    async def search_memory(self, agent_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Memory lines matching ``query``, best first."""
        ...

    async def search_chats(self, query: str, limit: int, *, agent_id: str | None,
                           exclude_sessions: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Finished chat messages matching ``query``, best first."""
        ...

    async def im_sessions(self, agent_id: str) -> list[tuple[str, str, str, str]]:
        """(session id, platform, instance, target JSON) of the agent's IM sessions."""
        ...
