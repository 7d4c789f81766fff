"""Event logs: events, trace steps, deliveries and dedup keys, written by group commit.

``SqlEventLog`` is what both databases share; ``SqliteEventLog`` numbers and recovers events
for the one daemon on the embedded file, ``PgEventLog`` (``aman.store.pg.events``) for the
daemons sharing a PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from aman.events.model import Event, Unfinished
from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter

_INSERT_EVENT = (
    "INSERT INTO events (seq, id, trace_id, parent_event_id, source, event_type, delivery,"
    " created_at, status, body, claimed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
)
_INSERT_STEP = (
    "INSERT INTO event_steps (event_id, trace_id, ts_ms, step, handler, detail)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_DEDUP = (
    "INSERT INTO dedup_keys (key, event_id, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id,"
    " expires_at = excluded.expires_at"
)
_UPSERT_DELIVERY = (
    "INSERT INTO deliveries (event_id, handler, status, attempts, updated_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id, handler) DO UPDATE SET"
    " status = excluded.status, attempts = excluded.attempts, updated_at = excluded.updated_at"
)
_SET_STATUS = "UPDATE events SET status = ? WHERE id = ?"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SqlEventLog:
    """The event log both databases share: what the bus writes, and the read side used by the
    event routes and the stream. How events are numbered, claimed, given status and announced
    depends on whether other daemons share the store (``SqliteEventLog``, ``PgEventLog``)."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter, *, claimant: str = "") -> None:
        self._db = db
        self._writer = writer
        self._claimant = claimant

    def _accepted(self, event: Event, dedup_expires_at: int | None,
                  claimant: str | None) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements that store an accepted event: the row, its dedup key, its first step."""
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
        return statements

    async def _write(self, statements: list[tuple[str, tuple[Any, ...]]], durable: bool) -> None:
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
            " SELECT id, trace_id, CAST(? AS BIGINT), CAST(? AS TEXT), NULL, CAST(? AS TEXT)"
            " FROM events WHERE id = ?",
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

    async def dedup_lookup(self, key: str, now_ms: int) -> str | None:
        """The event holding ``key`` if its window is still open."""
        row = await self._db.fetchone(
            "SELECT event_id FROM dedup_keys WHERE key = ? AND expires_at > ?", (key, now_ms)
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
            "SELECT seq, body, status FROM events ORDER BY seq DESC LIMIT ?", (limit,)
        )
        return [{**event_from_row(row).to_json(), "status": row["status"]} for row in rows]

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """One event with status, steps and deliveries."""
        row = await self._db.fetchone("SELECT seq, body, status FROM events WHERE id = ?",
                                      (event_id,))
        if row is None:
            return None
        steps = await self._db.fetchall(
            "SELECT * FROM event_steps WHERE event_id = ? ORDER BY id", (event_id,)
        )
        deliveries = await self._db.fetchall(
            "SELECT handler, status, attempts, updated_at FROM deliveries WHERE event_id = ?"
            " ORDER BY handler", (event_id,)
        )
        return {
            "event": event_from_row(row).to_json(),
            "status": row["status"],
            "steps": [_step_json(s) for s in steps],
            "deliveries": [{"handler": d["handler"], "status": d["status"],
                            "attempts": d["attempts"], "updated_at": d["updated_at"]}
                           for d in deliveries],
        }

    async def trace(self, trace_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Events of a trace in order, and all their steps in order."""
        events = await self._db.fetchall(
            "SELECT seq, body, status FROM events WHERE trace_id = ? ORDER BY seq", (trace_id,)
        )
        steps = await self._db.fetchall(
            "SELECT * FROM event_steps WHERE trace_id = ? ORDER BY id", (trace_id,)
        )
        return ([{**event_from_row(r).to_json(), "status": r["status"]} for r in events],
                [_step_json(s) for s in steps])

    async def parents(self, event_ids: list[str]) -> dict[str, str | None]:
        """parent_event_id of each given event that exists."""
        if not event_ids:
            return {}
        marks = ",".join("?" * len(event_ids))
        rows = await self._db.fetchall(
            f"SELECT id, parent_event_id FROM events WHERE id IN ({marks})", event_ids
        )
        return {r["id"]: r["parent_event_id"] for r in rows}

    async def after(self, seq: int, limit: int) -> list[Event]:
        """Dispatched events with ``seq`` greater than given, oldest first (stream replay)."""
        rows = await self._db.fetchall(
            "SELECT seq, body FROM events WHERE seq > ? AND status != 'pending'"
            " ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [event_from_row(row) for row in rows]

    async def event_types(self) -> list[str]:
        """Distinct types stored."""
        rows = await self._db.fetchall("SELECT DISTINCT event_type FROM events")
        return [r["event_type"] for r in rows]

    async def prune(self, older_than_ms: int, keep_max: int) -> int:
        """Delete finished events older than the cutoff or beyond the newest ``keep_max``."""
        row = await self._db.fetchone("SELECT COALESCE(MAX(seq), 0) AS s FROM events")
        floor_seq = max(0, (int(row["s"]) if row else 0) - keep_max)
        cutoff = await self._db.fetchone(
            "SELECT COALESCE(MAX(seq), 0) AS s FROM events WHERE created_at < ? OR seq <= ?",
            (older_than_ms, floor_seq),
        )
        limit_seq = int(cutoff["s"]) if cutoff else 0
        if limit_seq == 0:
            return 0
        doomed = "SELECT id FROM events WHERE seq <= ? AND status != 'pending'"
        await self._writer.execute([
            (f"DELETE FROM event_steps WHERE event_id IN ({doomed})", (limit_seq,)),
            (f"DELETE FROM deliveries WHERE event_id IN ({doomed})", (limit_seq,)),
            ("DELETE FROM events WHERE seq <= ? AND status != 'pending'", (limit_seq,)),
            ("DELETE FROM dedup_keys WHERE expires_at < ?", (_now_ms(),)),
        ])
        return limit_seq


class SqliteEventLog(SqlEventLog):
    """The embedded file's event log. One daemon uses the file at a time, so it numbers events
    itself (from the highest stored) and every pending event is its own to recover."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter, *, claimant: str = "") -> None:
        super().__init__(db, writer, claimant=claimant)
        self._last_seq: int | None = None
        self._seq_lock = asyncio.Lock()

    async def append(self, event: Event, *, durable: bool, dedup_expires_at: int | None,
                     claimant: str | None = None) -> None:
        """Insert the event (and its dedup key); wait for the commit when ``durable``."""
        await self._write(self._accepted(event, dedup_expires_at, claimant), durable)

    def mark_status(self, event: Event, status: str) -> None:
        """Queue a status change."""
        self._writer.submit(_SET_STATUS, (status, event.id))

    async def allocate_seq(self) -> int:
        """The next acceptance sequence number (numbered here: one daemon per file)."""
        if self._last_seq is None:
            async with self._seq_lock:
                if self._last_seq is None:
                    self._last_seq = await self.max_seq()
        self._last_seq += 1
        return self._last_seq

    def dispatched(self, event: Event) -> None:
        """Nothing to announce: no other daemon shares the file."""

    async def claim_pending(self, claimant: str, orphans_of: Sequence[str], limit: int, *,
                            skip_sources: Sequence[str] = ()) -> list[Unfinished]:
        """Every guaranteed event not done, oldest first, claimed by ``claimant`` (one daemon per
        file, so every claim is an orphan and it leads every role: nothing is skipped), with its
        deliveries' statuses; at-most-once leftovers are marked dropped."""
        await self._writer.execute([
            ("UPDATE events SET status = 'dropped'"
             " WHERE status = 'pending' AND delivery = 'at_most_once'", ()),
            ("UPDATE events SET claimed_by = ? WHERE status = 'pending'", (claimant,)),
        ])
        rows = await self._db.fetchall(
            "SELECT e.seq, e.body, group_concat(d.handler || char(30) || d.status || char(30)"
            " || d.attempts, char(31)) AS deliveries FROM events e"
            " LEFT JOIN deliveries d ON d.event_id = e.id"
            " WHERE e.status = 'pending' GROUP BY e.seq ORDER BY e.seq LIMIT ?", (limit,)
        )
        return [Unfinished.of(event_from_row(row), _deliveries(row["deliveries"])) for row in rows]

    async def release_claims(self, claimant: str) -> int:
        """Unclaim this daemon's pending events; return how many."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM events WHERE status = 'pending' AND claimed_by = ?",
            (claimant,))
        await self._writer.execute([(
            "UPDATE events SET claimed_by = NULL WHERE status = 'pending' AND claimed_by = ?",
            (claimant,))])
        return int(row["n"]) if row else 0

    async def by_seqs(self, seqs: Sequence[int]) -> list[Event]:
        """Stored events with these sequence numbers, in seq order."""
        if not seqs:
            return []
        marks = ", ".join("?" for _ in seqs)
        rows = await self._db.fetchall(
            f"SELECT seq, body FROM events WHERE seq IN ({marks}) ORDER BY seq", tuple(seqs))
        return [event_from_row(row) for row in rows]


def event_from_row(row: Row) -> Event:
    """An event read back from its stored row (its body, numbered by ``seq``)."""
    event = Event.from_json(json.loads(row["body"]))
    return event.with_changes(seq=int(row["seq"]))


def _deliveries(joined: str | None) -> list[tuple[str, str, int]]:
    """``(handler, status, attempts)`` from ``group_concat``'s joined text."""
    if not joined:
        return []
    rows = []
    for item in joined.split("\x1f"):
        handler, status, attempts = item.rsplit("\x1e", 2)
        rows.append((handler, status, int(attempts)))
    return rows


def _step_json(row: Row) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "ts_ms": row["ts_ms"],
        "step": row["step"],
        "handler": row["handler"],
        "detail": json.loads(row["detail"]) if row["detail"] else None,
    }
