"""Cluster: this daemon among the others on one store.

- **Membership.** Each daemon has a row it refreshes every ``cluster.heartbeat_sec`` and holds a
  lock under its name on its lock connection. A row not refreshed for ``cluster.dead_after_sec``
  whose lock is free names a daemon that died (``kill -9`` included); a late row with the lock
  held is a slow daemon, whose events are left alone so that none runs twice.
- **Takeover.** Every event a daemon accepts is claimed by it. The events a dead daemon had
  claimed and not finished are claimed by a survivor (``FOR UPDATE SKIP LOCKED``, so two
  survivors split them) and dispatched to the handlers that had not settled; an exactly-once
  delivery the dead daemon was running is parked in the DLQ as interrupted, not run again.
- **Leadership.** Work that must happen once (cron, workflow timers, retention, the idle
  scheduler, heartbeats, IM intake and outbound order) is a *role*. A role runs on the daemon
  holding its database lock; the lock dies with that daemon's connection, and a survivor takes
  it at its next tick and starts the role.
- **Hand-off.** Events a role must dispatch itself (outbound IM texts, so a chat's replies go
  out one at a time in order) are stored by the other daemons claimed for the role; its leader
  takes them when told (a notice on commit) or at its next tick, and dispatches them.
- **Holds** (``aman.cluster.holds``). Work that may run on any daemon but on one at a time (a
  chat session's turns) is held under a name: a database lock, waited for while another has it.
- **Dispatch feed.** A daemon announces the events it dispatches; the others show them to their
  own stream clients, so an SSE client on any daemon sees everything.

On the embedded SQLite store only one daemon can run: every role is led at once and no tick runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aman.clock import Clock
from aman.cluster.holds import Holds
from aman.cluster.model import (
    ROLES,
    Coordination,
    Member,
    MemberRepository,
    member_lock_key,
    role_claimant,
)
from aman.core.lifecycle import Spawner
from aman.errors import AmanError, StoreError
from aman.events.model import Event, Unfinished
from aman.ids import uuid7

log = logging.getLogger(__name__)

#: Lock keys of the roles: a fixed prefix and a hash of the role's name.
_ROLE_LOCK_BASE = 0x616D616E_1000_0000
#: Members whose rows have not been refreshed for this long are removed from the table.
_FORGET_AFTER_MS = 3_600_000


class ClaimingLog(Protocol):
    """The part of the event log takeover needs."""

    async def claim_pending(self, claimant: str, orphans_of: Sequence[str], limit: int, *,
                            skip_sources: Sequence[str] = ()) -> list[Unfinished]:
        """Claim guaranteed pending events left by the named daemons (or by no one), but those
        of sources starting with ``skip_sources``, each with its settled handlers and the
        exactly-once handlers found running."""
        ...

    async def release_claims(self, claimant: str) -> int:
        """Give back this daemon's pending events (a clean stop): others take them at once."""
        ...

    async def by_seqs(self, seqs: Sequence[int]) -> list[Event]:
        """Stored events with these sequence numbers."""
        ...


class Requeue(Protocol):
    """The part of the bus takeover and the feed use."""

    def requeue(self, recovered: list[Unfinished]) -> int:
        """Queue events taken over, skipping the handlers already settled; park those found
        running (interrupted) in the DLQ."""
        ...

    def announce(self, event: Event) -> None:
        """Show an event to stream observers only."""
        ...


@dataclass
class _Role:
    name: str
    start: Callable[[], Awaitable[object]]
    stop: Callable[[], Awaitable[object]]
    running: bool = False

    @property
    def key(self) -> int:
        return _ROLE_LOCK_BASE + zlib.crc32(self.name.encode())


def default_name(bind: str | None) -> str:
    """``host:port`` of the HTTP listener (unique per machine), else ``host:pid``."""
    port = bind.rsplit(":", 1)[-1] if bind else ""
    return f"{socket.gethostname()}:{port or os.getpid()}"


class Cluster:
    """Membership, takeover, leadership and the dispatch feed of this daemon."""

    def __init__(self, *, members: MemberRepository, coordination: Coordination,
                 events: ClaimingLog, clock: Clock, tasks: Spawner, name: str,
                 url: str | None, heartbeat_sec: float, dead_after_sec: float) -> None:
        self._members = members
        self._coordination = coordination
        self._events = events
        self._clock = clock
        self._tasks = tasks
        self.name = name
        self.url = url
        self.heartbeat_sec = heartbeat_sec
        self.dead_after_ms = int(dead_after_sec * 1000)
        self.incarnation = uuid7()
        self._roles: dict[str, _Role] = {}
        self._bus: Requeue | None = None
        self._loop: asyncio.Task[None] | None = None
        self._feed: asyncio.Task[None] | None = None
        self._heard: list[int] = []
        self._heard_signal = asyncio.Event()
        self._handed = asyncio.Event()
        self._pickup: asyncio.Task[None] | None = None
        #: Source prefix → the role whose leader alone dispatches those events.
        self._routes: dict[str, str] = {}
        self._others: list[Member] = []
        self._joined = False
        self._role_lock = asyncio.Lock()
        self._on_tick: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        #: Names held by one task on one daemon at a time (a chat session's turns).
        self.holds = Holds(coordination)
        self.taken_over = 0

    @property
    def shared(self) -> bool:
        """Whether other daemons may use the same store."""
        return self._coordination.shared

    # --- lifecycle -----------------------------------------------------------------------

    async def join(self) -> None:
        """Register this daemon; refuse to run beside a live daemon of the same name."""
        now = self._clock.now_ms()
        for member in await self._members.members():
            if (member.name == self.name and member.incarnation != self.incarnation
                    and member.alive(now, self.dead_after_ms) and self.shared):
                raise StoreError(
                    f"a daemon named {self.name!r} is already running on this store (pid "
                    f"{member.pid} on {member.host}); give this one another cluster.node_name")
        await self._coordination.open(self._heard_dispatch)
        if not await self._coordination.try_lock(member_lock_key(self.name)):
            await self._coordination.close()
            raise StoreError(f"a daemon named {self.name!r} is already connected to this store; "
                             "give this one another cluster.node_name")
        await self._members.join(Member(
            name=self.name, incarnation=self.incarnation, host=socket.gethostname(),
            pid=os.getpid(), url=self.url, started_at=now, last_seen=now))
        self._joined = True

    async def recover(self) -> list[Unfinished]:
        """Events to re-queue at boot: on a shared store, those of this name's previous run and
        of dead daemons, but those a role's leader dispatches (this one leads nothing yet: its
        own go back to no one, for the leader); on SQLite, every pending event."""
        if self.shared and self._routes:
            await self._events.release_claims(self.name)
        orphans = [self.name, *await self._dead_names()]
        return await self._events.claim_pending(self.name, orphans, limit=1_000_000,
                                                skip_sources=list(self._routes))

    def attach(self, bus: Requeue) -> None:
        """Start the tick and the feed (after dispatch opened: takeovers are dispatched)."""
        self._bus = bus
        if self.shared and self._loop is None:
            self._loop = self._tasks.spawn("cluster:tick", self._tick_forever())
            self._feed = self._tasks.spawn("cluster:feed", self._feed_forever())
            self._pickup = self._tasks.spawn("cluster:pickup", self._pickup_forever())

    async def stop(self) -> None:
        """Stop leading, give back pending claims, leave the table and disconnect."""
        tasks = [t for t in (self._loop, self._feed, self._pickup) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = self._feed = self._pickup = None
        for role in list(self._roles):
            await self.withdraw(role)
        if self._joined:
            try:
                if self.shared:
                    released = await self._events.release_claims(self.name)
                    if released:
                        log.info("gave back %d pending event(s) to the other daemons", released)
                await self._members.leave(self.name, self.incarnation)
            except AmanError as exc:
                log.warning("leaving the cluster table failed: %s", exc)
            self._joined = False
        await self._coordination.close()

    def on_tick(self, name: str, refresh: Callable[[], Awaitable[object]]) -> Callable[[], None]:
        """Call ``refresh`` at every tick (a shared store only): state other daemons changed in
        the store is taken in. Return the undo."""
        entry = (name, refresh)
        self._on_tick.append(entry)
        return lambda: self._on_tick.remove(entry) if entry in self._on_tick else None

    # --- leadership ----------------------------------------------------------------------

    async def lead(self, role: str, start: Callable[[], Awaitable[object]],
                   stop: Callable[[], Awaitable[object]]) -> None:
        """Run ``start`` now if this daemon gets ``role``'s lock, else whenever it does."""
        if role not in ROLES:
            raise ValueError(f"unknown cluster role {role!r}")
        self._roles[role] = _Role(role, start, stop)
        await self._try_lead(self._roles[role])

    async def withdraw(self, role: str) -> None:
        """Stop ``role`` here (if led) and give its lock back; no later tick takes it again."""
        found = self._roles.pop(role, None)
        if found is None or not found.running:
            return
        found.running = False
        try:
            await found.stop()
        finally:
            if self._coordination.connected:
                try:
                    await self._coordination.unlock(found.key)
                except AmanError as exc:
                    log.warning("releasing the %s lock failed: %s", role, exc)

    def leads(self, role: str) -> bool:
        """Whether this daemon runs ``role`` now."""
        found = self._roles.get(role)
        return found is not None and found.running

    def hand_off(self, role: str, source_prefix: str) -> Callable[[], str | None]:
        """Have ``role``'s leader alone dispatch the events of sources starting with
        ``source_prefix``: others publish them handed to it (with the answer of the returned
        ``hand_to``), and leave such events of dead daemons to it."""
        self._routes[source_prefix] = role
        return lambda: self.hand_to(role)

    def hand_to(self, role: str) -> str | None:
        """Whom to claim an event for that ``role``'s leader must dispatch: None when that is
        this daemon (or it is alone on the store), else the role's claimant."""
        return None if not self.shared or self.leads(role) else role_claimant(role)

    def _led_elsewhere(self) -> list[str]:
        """Source prefixes whose events another daemon's role dispatches (not to be claimed)."""
        return [prefix for prefix, role in self._routes.items() if not self.leads(role)]

    @property
    def led(self) -> list[str]:
        """The roles this daemon runs, by name."""
        return sorted(r.name for r in self._roles.values() if r.running)

    async def _try_lead(self, role: _Role) -> None:
        async with self._role_lock:
            if role.running or self._roles.get(role.name) is not role:
                return
            if not await self._coordination.try_lock(role.key):
                return
            log.info("leading %s", role.name)
            role.running = True
        try:
            await role.start()
        except BaseException:
            role.running = False
            await self._coordination.unlock(role.key)
            raise
        self._handed.set()  # events handed to the role while nobody led it

    async def _lost_locks(self) -> None:
        """The lock connection dropped: every lock is gone, so every role stops here."""
        for role in list(self._roles.values()):
            if role.running:
                log.warning("lost the lock of %s (database connection); stopping it", role.name)
                role.running = False
                try:
                    await role.stop()
                except Exception:
                    log.exception("stopping %s failed", role.name)

    # --- the tick ------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except AmanError as exc:
                log.warning("cluster tick failed: %s", exc)
            except Exception:
                log.exception("cluster tick failed")
            await self._clock.sleep(self.heartbeat_sec)

    async def tick(self) -> None:
        """Refresh this daemon's row, take over dead daemons' events, try for free roles."""
        if not self._coordination.connected:
            await self._lost_locks()
            await self._coordination.close()
            await self._coordination.open(self._heard_dispatch)
            if not await self._coordination.try_lock(member_lock_key(self.name)):
                log.warning("another connection holds this daemon's name lock")
        now = self._clock.now_ms()
        if not await self._members.beat(self.name, self.incarnation, now, self.led):
            await self._members.join(Member(
                name=self.name, incarnation=self.incarnation, host=socket.gethostname(),
                pid=os.getpid(), url=self.url, started_at=now, last_seen=now, leads=self.led))
        members = await self._members.members()
        self._others = [m for m in members if m.name != self.name]
        dead = await self._dead(self._others, now)
        owners = [*dead, *(role_claimant(r) for r in self.led)]
        orphaned = await self._events.claim_pending(self.name, owners, limit=5_000,
                                                    skip_sources=self._led_elsewhere())
        if orphaned and self._bus is not None:
            self.taken_over += len(orphaned)
            log.info("took over %d event(s) from %s", len(orphaned), ", ".join(owners) or "nobody")
            self._bus.requeue(orphaned)
        stale = [m.name for m in self._others if now - m.last_seen > _FORGET_AFTER_MS]
        if stale:
            await self._members.forget(stale)
        for role in list(self._roles.values()):
            if not role.running:
                await self._try_lead(role)
        for name, refresh in list(self._on_tick):
            try:
                await refresh()
            except AmanError as exc:
                log.warning("refreshing %s from the store failed: %s", name, exc)

    async def _dead_names(self) -> list[str]:
        members = [m for m in await self._members.members() if m.name != self.name]
        return await self._dead(members, self._clock.now_ms())

    async def _dead(self, members: Sequence[Member], now: int) -> list[str]:
        """Members whose row is late and whose lock connection is gone. One whose row is late
        but whose connection is up is slow (a busy machine), not dead: its events stay its own,
        so no handler runs twice."""
        return [m.name for m in members if not m.alive(now, self.dead_after_ms)
                and not await self._coordination.held_elsewhere(member_lock_key(m.name))]

    # --- the dispatch feed ---------------------------------------------------------------

    def _heard_dispatch(self, origin: str, seqs: list[int]) -> None:
        if origin.startswith(role_claimant("")):  # handed to a role, not dispatched yet
            if self.leads(origin.removeprefix(role_claimant(""))):
                self._handed.set()
            return
        if origin == self.name:
            return
        self._heard.extend(seqs)
        self._heard_signal.set()

    async def _feed_forever(self) -> None:
        while True:
            await self._heard_signal.wait()
            self._heard_signal.clear()
            seqs, self._heard = self._heard, []
            try:
                events = await self._events.by_seqs(seqs)
            except AmanError as exc:
                log.warning("reading events dispatched elsewhere failed: %s", exc)
                continue
            by_seq = {e.seq: e for e in events}
            for seq in seqs:  # in the order they were dispatched
                event = by_seq.get(seq)
                if event is not None and self._bus is not None:
                    self._bus.announce(event)

    async def _pickup_forever(self) -> None:
        while True:
            await self._handed.wait()
            self._handed.clear()
            owners = [role_claimant(r) for r in self.led]
            if not owners or self._bus is None:
                continue
            try:
                handed = await self._events.claim_pending(
                    self.name, owners, limit=5_000, skip_sources=self._led_elsewhere())
            except AmanError as exc:  # the next tick claims them
                log.warning("taking events handed to %s failed: %s", ", ".join(owners), exc)
                continue
            if handed:
                self._bus.requeue(handed)

    # --- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """This daemon, the others it sees, and who leads what (for /runtime/status)."""
        now = self._clock.now_ms()
        leaders: dict[str, str | None] = {role: None for role in sorted(self._roles)}
        for member in self._others:
            if member.alive(now, self.dead_after_ms):
                for role in member.leads:
                    leaders[role] = member.name
        for role in self.led:
            leaders[role] = self.name
        return {
            "store_shared": self.shared,
            "daemon": {"name": self.name, "incarnation": self.incarnation, "url": self.url,
                       "leads": self.led},
            "others": [m.to_json(now, self.dead_after_ms) for m in self._others],
            "leaders": leaders,
            "taken_over": self.taken_over,
        }
