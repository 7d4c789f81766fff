"""The cluster's values and the ports its store implements.

A daemon is a *member*: one row per running daemon, refreshed by its heartbeat. A row that
stops being refreshed names a daemon that died; its claimed events are taken over and its
leadership (held as database locks that die with its connection) moves to a survivor.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Protocol

#: Work that must happen on one daemon at a time, each led by whoever holds its lock.
ROLES = ("cron", "workflow_timers", "maintenance", "idle", "heartbeat", "channel_intake",
         "channel_outbox")


def role_claimant(role: str) -> str:
    """Who events handed to ``role``'s leader are claimed by until it takes them (a ``/`` no
    daemon name may hold)."""
    return f"role/{role}"


#: Lock keys of the daemons themselves: a fixed upper half (apart from the roles' keys) and a hash
#: of the name in the lower half.
_MEMBER_LOCK_BASE = 0x616D6164 << 32


def member_lock_key(name: str) -> int:
    """The lock a daemon holds under its name while its lock connection is up."""
    return _MEMBER_LOCK_BASE + zlib.crc32(name.encode())


@dataclass(frozen=True)
class Member:
    """One daemon as its heartbeat row describes it."""

    name: str
    incarnation: str
    host: str
    pid: int
    url: str | None
    started_at: int
    last_seen: int
    leads: list[str] = field(default_factory=list)

    def alive(self, now_ms: int, dead_after_ms: int) -> bool:
        """Whether its heartbeat is recent enough to count it as running."""
        return now_ms - self.last_seen <= dead_after_ms

    def to_json(self, now_ms: int, dead_after_ms: int) -> dict[str, object]:
        """The member as /runtime/status shows it."""
        return {"name": self.name, "host": self.host, "pid": self.pid, "url": self.url,
                "started_at": self.started_at, "last_seen": self.last_seen,
                "alive": self.alive(now_ms, dead_after_ms), "leads": sorted(self.leads)}


class MemberRepository(Protocol):
    """The ``daemons`` rows."""

    async def join(self, member: Member) -> None:
        """Insert or replace this daemon's row (a new incarnation of the same name replaces)."""
        ...

    async def beat(self, name: str, incarnation: str, now_ms: int, leads: list[str]) -> bool:
        """Refresh this daemon's row; False when the row is gone or names another incarnation."""
        ...

    async def members(self) -> list[Member]:
        """Every row, by name."""
        ...

    async def leave(self, name: str, incarnation: str) -> None:
        """Delete this daemon's row (a clean stop)."""
        ...

    async def forget(self, names: list[str]) -> None:
        """Delete the rows of daemons long dead (nothing of theirs is left to take over)."""
        ...


class Coordination(Protocol):
    """Locks that die with their holder, and word of events dispatched by other daemons."""

    @property
    def shared(self) -> bool:
        """False for a store only one daemon can use (every lock is granted at once)."""
        ...

    async def open(self, on_dispatched: DispatchListener) -> None:
        """Connect; from now on other daemons' dispatched event seqs reach ``on_dispatched``."""
        ...

    async def close(self) -> None:
        """Disconnect: every lock held is released."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the locks held are still held (the connection is up)."""
        ...

    async def try_lock(self, key: int) -> bool:
        """Take the lock ``key`` if free (held until ``unlock`` or the connection ends)."""
        ...

    async def unlock(self, key: int) -> None:
        """Give the lock ``key`` back."""
        ...

    async def held_elsewhere(self, key: int) -> bool:
        """Whether another daemon's connection holds the lock ``key`` now."""
        ...


class DispatchListener(Protocol):
    """Called with the sequence numbers another daemon dispatched."""

    def __call__(self, origin: str, seqs: list[int]) -> None:
        """Take note of ``seqs`` dispatched by the daemon named ``origin``."""
        ...
