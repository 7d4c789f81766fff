"""PostgreSQL event log: events, trace steps, deliveries and dedup keys, written by group commit."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aman.events.model import Event, Unfinished
from aman.store.pg.db import PgDatabase, Row
from aman.store.writer import BatchWriter

_INSERT_EVENT = (
    "INSERT INTO events (seq, id, trace_id, parent_event_id, source, event_type, delivery,"
    " created_at, status, body, claimed_by)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)"
)
_INSERT_STEP = (
    "INSERT INTO event_steps (event_id, trace_id, ts_ms, step, handler, detail)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_UPSERT_DEDUP = (
    "INSERT INTO dedup_keys (key, event_id, expires_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id,"
    " expires_at = excluded.expires_at"
)
_UPSERT_DELIVERY = (
    "INSERT INTO deliveries (event_id, handler, status, attempts, updated_at)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id, handler) DO UPDATE SET"
    " status = excluded.status, attempts = excluded.attempts, updated_at = excluded.updated_at"
)
#: The events given one status between two commits, as one statement (an index lookup each).
_SET_STATUS = "UPDATE events SET status = $1 WHERE id = ANY($2::text[])"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with ``prefix`` (its wildcards taken literally)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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


class PgEventLog:
    """The bus's event log and the read side used by the event routes and the stream.

    Daemons sharing the server number events from one database sequence (reserved a block at a
    time), claim the events they accept, and take over the pending events of dead daemons.
    """

    def __init__(self, db: PgDatabase, writer: BatchWriter, *, claimant: str = "") -> None:
        self._db = db
        self._writer = writer
        self._claimant = claimant
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
        meta = event.metadata
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (_INSERT_EVENT, (event.seq, event.id, meta.trace_id, meta.parent_event_id,
                             event.source, event.event_type, event.delivery.value,
                             meta.created_at, _dumps(event.to_json()),
                             claimant or self._claimant or None)),
        ]
        if event.dedup_key and dedup_expires_at is not None:
            statements.append((_UPSERT_DEDUP, (event.dedup_key, event.id, dedup_expires_at)))
        statements.append(self._step(event, "accepted", None, {"seq": event.seq}))
        if claimant:  # a notice sent in the transaction arrives once the row is committed
            statements.append((_NOTIFY, (claimant, [event.seq])))
        if durable:
            await self._writer.execute(statements)
        else:
            for sql, params in statements:
                self._writer.submit(sql, params)

    def record_step(self, event: Event, step: str, *, handler: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Queue a trace step."""
        self._writer.submit(*self._step(event, step, handler, detail))

    def record_step_of(self, event_id: str, step: str,
                       detail: dict[str, Any] | None = None) -> None:
        """Queue a trace step for a stored event known only by id (its trace is looked up)."""
        self._writer.submit(
            "INSERT INTO event_steps (event_id, trace_id, ts_ms, step, handler, detail)"
            " SELECT id, trace_id, $1::bigint, $2::text, NULL, $3::text FROM events WHERE id = $4",
            (_now_ms(), step, _dumps(detail) if detail else None, event_id),
        )

    @staticmethod
    def _step(event: Event, step: str, handler: str | None,
              detail: dict[str, Any] | None) -> tuple[str, tuple[Any, ...]]:
        return _INSERT_STEP, (event.id, event.metadata.trace_id, _now_ms(), step, handler,
                              _dumps(detail) if detail else None)

    async def record_delivery(self, event: Event, handler: str, status: str, attempts: int,
                              *, durable: bool) -> None:
        """Record a delivery's status (ok, dead; running, failed for exactly-once events)."""
        params = (event.id, handler, status, attempts, _now_ms())
        if durable:
            await self._writer.execute([(_UPSERT_DELIVERY, params)])
        else:
            self._writer.submit(_UPSERT_DELIVERY, params)

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
        return [Unfinished.of(_event(row), zip(row["hs"] or (), row["ss"] or (),
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
        return [_event(row) for row in rows]

    async def dedup_lookup(self, key: str, now_ms: int) -> str | None:
        """The event holding ``key`` if its window is still open."""
        row = await self._db.fetchone(
            "SELECT event_id FROM dedup_keys WHERE key = $1 AND expires_at > $2", (key, now_ms)
        )
        return str(row["event_id"]) if row else None

    async def max_seq(self) -> int:
        """Highest sequence number stored."""
        row = await self._db.fetchone("SELECT COALESCE(MAX(seq), 0) AS s FROM events")
        return int(row["s"]) if row else 0

    # --- reads ---------------------------------------------------------------------------

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """Newest events first, each with its status."""
        rows = await self._db.fetchall(
            "SELECT seq, body, status FROM events ORDER BY seq DESC LIMIT $1", (limit,)
        )
        return [{**_event(row).to_json(), "status": row["status"]} for row in rows]

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """One event with status, steps and deliveries."""
        row = await self._db.fetchone("SELECT seq, body, status FROM events WHERE id = $1",
                                      (event_id,))
        if row is None:
            return None
        steps = await self._db.fetchall(
            "SELECT * FROM event_steps WHERE event_id = $1 ORDER BY id", (event_id,)
        )
        deliveries = await self._db.fetchall(
            "SELECT handler, status, attempts, updated_at FROM deliveries WHERE event_id = $1"
            " ORDER BY handler", (event_id,)
        )
        return {
            "event": _event(row).to_json(),
            "status": row["status"],
            "steps": [_step_json(s) for s in steps],
            "deliveries": [dict(d) for d in deliveries],
        }

    async def trace(self, trace_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Events of a trace in order, and all their steps in order."""
        events = await self._db.fetchall(
            "SELECT seq, body, status FROM events WHERE trace_id = $1 ORDER BY seq", (trace_id,)
        )
        steps = await self._db.fetchall(
            "SELECT * FROM event_steps WHERE trace_id = $1 ORDER BY id", (trace_id,)
        )
        return ([{**_event(r).to_json(), "status": r["status"]} for r in events],
                [_step_json(s) for s in steps])

    async def parents(self, event_ids: list[str]) -> dict[str, str | None]:
        """parent_event_id of each given event that exists."""
        if not event_ids:
            return {}
        rows = await self._db.fetchall(
            "SELECT id, parent_event_id FROM events WHERE id = ANY($1::text[])", (event_ids,)
        )
        return {r["id"]: r["parent_event_id"] for r in rows}

    async def after(self, seq: int, limit: int) -> list[Event]:
        """Dispatched events with ``seq`` greater than given, oldest first (stream replay)."""
        rows = await self._db.fetchall(
            "SELECT seq, body FROM events WHERE seq > $1 AND status != 'pending'"
            " ORDER BY seq LIMIT $2", (seq, limit)
        )
        return [_event(row) for row in rows]

    async def event_types(self) -> list[str]:
        """Distinct types stored."""
        rows = await self._db.fetchall("SELECT DISTINCT event_type FROM events")
        return [r["event_type"] for r in rows]

    async def prune(self, older_than_ms: int, keep_max: int) -> int:
        """Delete finished events older than the cutoff or beyond the newest ``keep_max``."""
        row = await self._db.fetchone("SELECT COALESCE(MAX(seq), 0) AS s FROM events")
        floor_seq = max(0, (int(row["s"]) if row else 0) - keep_max)
        cutoff = await self._db.fetchone(
            "SELECT COALESCE(MAX(seq), 0) AS s FROM events WHERE created_at < $1 OR seq <= $2",
            (older_than_ms, floor_seq),
        )
        limit_seq = int(cutoff["s"]) if cutoff else 0
        if limit_seq == 0:
            return 0
        doomed = "SELECT id FROM events WHERE seq <= $1 AND status != 'pending'"
        await self._writer.execute([
            (f"DELETE FROM event_steps WHERE event_id IN ({doomed})", (limit_seq,)),
            (f"DELETE FROM deliveries WHERE event_id IN ({doomed})", (limit_seq,)),
            ("DELETE FROM events WHERE seq <= $1 AND status != 'pending'", (limit_seq,)),
            ("DELETE FROM dedup_keys WHERE expires_at < $1", (_now_ms(),)),
        ])
        return limit_seq


def _event(row: Row) -> Event:
    event = Event.from_json(json.loads(row["body"]))
    return event.with_changes(seq=int(row["seq"]))


def _step_json(row: Row) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "ts_ms": row["ts_ms"],
        "step": row["step"],
        "handler": row["handler"],
        "detail": json.loads(row["detail"]) if row["detail"] else None,
    }
