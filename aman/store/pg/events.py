"""The PostgreSQL event log: numbering, claims, status and dispatch notices of daemons sharing a
server (the rest is ``SqlEventLog``'s)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aman.events.model import Event, Unfinished
from aman.store.events import SqlEventLog, event_from_row
from aman.store.pg.db import PgDatabase
from aman.store.writer import BatchWriter

#: The events given one status between two commits, as one statement (an index lookup each).
_SET_STATUS = "UPDATE events SET status = $1 WHERE id = ANY($2::text[])"


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with ``prefix`` (its wildcards taken literally)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


#: Sequence numbers reserved per round trip: daemons sharing the server draw from one sequence.
_SEQ_BLOCK = 32
#: One notice per commit names this daemon and the events it dispatched: ``name:seq,seq,...``.
_NOTIFY = ("SELECT pg_notify('aman_dispatched',"
           " $1::text || ':' || array_to_string($2::bigint[], ','))")
#: Rows one merged statement takes at most (a notice's payload must stay under 8000 bytes).
_MERGE_MAX = 300


@dataclass
class _Merged:
    """The parameters of a statement still queued in the writer, which later rows join."""

    taken: int
    params: tuple[Any, ...]
    #: The list that grows by one per row joined.
    rows: list[Any]
    members: set[Any] = field(default_factory=set)


class PgEventLog(SqlEventLog):
    """The event log of daemons sharing a PostgreSQL server. They number events from one
    database sequence (reserved a block at a time), claim the events they accept, take over the
    pending events of dead daemons, and tell each other what they dispatched."""

    def __init__(self, db: PgDatabase, writer: BatchWriter, *, claimant: str = "") -> None:
        super().__init__(db, writer, claimant=claimant)
        self._reserved: deque[int] = deque()
        self._seq_lock = asyncio.Lock()
        self._statuses: dict[str, _Merged] = {}
        self._notices: _Merged | None = None

    def _waiting(self, merged: _Merged | None) -> _Merged | None:
        """``merged`` while its statement still waits in the writer with room, else None.

        Rows queued between two commits join one statement instead of making one each: the
        writer reads the parameter lists when it takes the batch, and ``taken`` says it has.
        """
        if merged is not None and merged.taken == self._writer.taken \
                and len(merged.rows) < _MERGE_MAX:
            return merged
        return None

    def _queue_merged(self, sql: str, params: tuple[Any, ...], rows: list[Any]) -> _Merged:
        self._writer.submit(sql, params)
        return _Merged(self._writer.taken, params, rows)

    # --- the bus's port ------------------------------------------------------------------

    async def append(self, event: Event, *, durable: bool, dedup_expires_at: int | None,
                     claimant: str | None = None) -> None:
        """Insert the event (and its dedup key); wait for the commit when ``durable``. An event
        claimed for another (a role's leader) is announced to it once committed."""
        statements = self._accepted(event, dedup_expires_at, claimant)
        if claimant:  # a notice sent in the transaction arrives once the row is committed
            statements.append((_NOTIFY, (claimant, [event.seq])))
        await self._write(statements, durable)

    def mark_status(self, event: Event, status: str) -> None:
        """Queue a status change (merged with the others to that status before the next commit)."""
        for other, waiting in self._statuses.items():
            # An event sits in one waiting statement at most, so its last change wins.
            if other != status and event.id in waiting.members and self._waiting(waiting):
                waiting.members.discard(event.id)
                waiting.rows.remove(event.id)
        merged = self._waiting(self._statuses.get(status))
        if merged is None:
            ids: list[str] = []
            merged = self._statuses[status] = self._queue_merged(_SET_STATUS, (status, ids), ids)
        if event.id not in merged.members:
            merged.members.add(event.id)
            merged.rows.append(event.id)

    def dispatched(self, event: Event) -> None:
        """Tell the other daemons (their stream clients) in the next batch, one notice for all
        the events dispatched before it commits."""
        merged = self._waiting(self._notices)
        if merged is None:
            seqs: list[int] = []
            merged = self._notices = self._queue_merged(_NOTIFY, (self._claimant, seqs), seqs)
        merged.rows.append(event.seq)

    async def allocate_seq(self) -> int:
        """The next acceptance sequence number, from the sequence every daemon shares."""
        if not self._reserved:
            async with self._seq_lock:
                if not self._reserved:
                    rows = await self._db.fetchall(
                        "SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS s"
                        " FROM generate_series(1, $1)", (_SEQ_BLOCK,))
                    self._reserved.extend(sorted(int(r["s"]) for r in rows))
        return self._reserved.popleft()

    async def claim_pending(self, claimant: str, orphans_of: Sequence[str], limit: int, *,
                            skip_sources: Sequence[str] = ()) -> list[Unfinished]:
        """Claim the guaranteed pending events that no daemon or one of ``orphans_of`` holds,
        oldest first, but those of a source starting with one of ``skip_sources`` (a role's
        leader takes them), with their deliveries' statuses; rows another daemon is claiming
        right now are skipped, not waited for. Their at-most-once leftovers are marked dropped."""
        owners = list(orphans_of)
        await self._writer.execute([(
            "UPDATE events SET status = 'dropped' WHERE status = 'pending'"
            " AND delivery = 'at_most_once' AND (claimed_by IS NULL OR claimed_by = ANY($1))",
            (owners,))])
        rows = await self._db.fetchall(
            "WITH taken AS (SELECT seq FROM events WHERE status = 'pending'"
            " AND (claimed_by IS NULL OR claimed_by = ANY($2::text[]))"
            " AND NOT (source LIKE ANY($4::text[])) ORDER BY seq LIMIT $3"
            " FOR UPDATE SKIP LOCKED),"
            " claimed AS (UPDATE events e SET claimed_by = $1 FROM taken WHERE e.seq = taken.seq"
            " RETURNING e.seq, e.id, e.body)"
            " SELECT c.seq, c.body,"
            " array_agg(d.handler ORDER BY d.handler) FILTER (WHERE d.handler IS NOT NULL) AS hs,"
            " array_agg(d.status ORDER BY d.handler) FILTER (WHERE d.handler IS NOT NULL) AS ss,"
            " array_agg(d.attempts ORDER BY d.handler) FILTER (WHERE d.handler IS NOT NULL) AS ns"
            " FROM claimed c LEFT JOIN deliveries d ON d.event_id = c.id"
            " GROUP BY c.seq, c.body ORDER BY c.seq",
            (claimant, owners, limit, [_like_prefix(p) for p in skip_sources]))
        return [Unfinished.of(event_from_row(row), zip(row["hs"] or (), row["ss"] or (),
                                               row["ns"] or (), strict=True)) for row in rows]

    async def release_claims(self, claimant: str) -> int:
        """Unclaim this daemon's pending events; return how many."""
        rows = await self._db.fetchall(
            "UPDATE events SET claimed_by = NULL WHERE status = 'pending' AND claimed_by = $1"
            " RETURNING seq", (claimant,))
        return len(rows)

    async def by_seqs(self, seqs: Sequence[int]) -> list[Event]:
        """Stored events with these sequence numbers, in seq order."""
        rows = await self._db.fetchall(
            "SELECT seq, body FROM events WHERE seq = ANY($1::bigint[]) ORDER BY seq",
            (list(seqs),))
        return [event_from_row(row) for row in rows]
