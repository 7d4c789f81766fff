"""Coordination between daemons sharing a PostgreSQL server (their ``daemons`` rows are the
store's ``SqlMemberRepository``).

Locks are session advisory locks on one connection of this daemon's own: the server releases
them when that connection ends, so a daemon killed with ``kill -9`` gives its roles up within
moments. The same connection LISTENs for the dispatch notices other daemons send.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from aman.cluster.model import DispatchListener
from aman.errors import StoreUnavailableError
from aman.store.pg.db import UNREACHABLE, describe

log = logging.getLogger(__name__)

#: The channel dispatch notices travel on, one per commit: ``<name>:<seq>,<seq>,...``.
DISPATCH_CHANNEL = "aman_dispatched"


class PgCoordination:
    """Advisory locks and dispatch notices on one dedicated connection."""

    shared = True

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._conn: asyncpg.Connection | None = None
        self._listener: DispatchListener | None = None
        self._lock = asyncio.Lock()

    async def open(self, on_dispatched: DispatchListener) -> None:
        """Connect and LISTEN."""
        self._listener = on_dispatched
        try:
            conn = await asyncpg.connect(self._url, timeout=self._timeout)
            await conn.add_listener(DISPATCH_CHANNEL, self._notified)
        except (asyncpg.PostgresError, *UNREACHABLE) as exc:
            raise StoreUnavailableError(
                f"cannot reach {describe(self._url)} for cluster locks: {exc}") from exc
        self._conn = conn

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        origin, _, listed = payload.rpartition(":")  # name:seq,seq,... (a name may hold ':')
        seqs = [int(seq) for seq in listed.split(",") if seq.isdigit()]
        if self._listener is not None and seqs:
            self._listener(origin, seqs)

    async def close(self) -> None:
        """Disconnect; the server releases every lock held."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await asyncio.wait_for(conn.close(), timeout=5)
        except (TimeoutError, asyncpg.PostgresError, *UNREACHABLE):
            conn.terminate()

    @property
    def connected(self) -> bool:
        """Whether the connection (and so every lock held on it) is still up."""
        return self._conn is not None and not self._conn.is_closed()

    async def try_lock(self, key: int) -> bool:
        """``pg_try_advisory_lock``: True when taken (or already held by this daemon)."""
        conn = self._require()
        async with self._lock:
            try:
                return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            except (asyncpg.PostgresError, *UNREACHABLE) as exc:
                raise StoreUnavailableError(f"taking a cluster lock failed: {exc}") from exc

    async def unlock(self, key: int) -> None:
        """``pg_advisory_unlock``."""
        conn = self._require()
        async with self._lock:
            try:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)
            except (asyncpg.PostgresError, *UNREACHABLE) as exc:
                raise StoreUnavailableError(f"releasing a cluster lock failed: {exc}") from exc

    async def held_elsewhere(self, key: int) -> bool:
        """Whether another session on this database holds the advisory lock ``key`` (a bigint
        key shows in ``pg_locks`` as its upper and lower 32 bits, ``objsubid`` 1)."""
        conn = self._require()
        async with self._lock:
            try:
                return bool(await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                    " AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1"
                    " AND pid <> pg_backend_pid())", key >> 32, key & 0xFFFF_FFFF))
            except (asyncpg.PostgresError, *UNREACHABLE) as exc:
                raise StoreUnavailableError(f"reading the cluster locks failed: {exc}") from exc

    def _require(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            raise StoreUnavailableError("the cluster lock connection is down")
        return self._conn
