"""The audit log: who did what to which target, with what outcome; append-only and hash-chained.

Each record stores the hash of the one before it, so editing or deleting any row breaks the chain
at that row, and ``verify`` names the first broken link. The service knows nothing of HTTP: routes
and services pass the operator and request id in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aman.audit.model import (
    GENESIS_HASH,
    AuditQuery,
    AuditRecord,
    AuditRepository,
    BrokenLink,
    VerifyReport,
    chain_hash,
)
from aman.clock import Clock
from aman.errors import AmanError

_log = logging.getLogger(__name__)


class AuditLog:
    """Appends records to the chain and answers queries about it."""

    def __init__(
        self,
        repository: AuditRepository,
        clock: Clock,
        on_record: Callable[[AuditRecord], None] | None = None,
    ) -> None:
        self._repo = repository
        self._clock = clock
        self._on_record = on_record
        self._lock = asyncio.Lock()
        self._tail: tuple[int, str] | None = None

    async def start(self) -> None:
        """Load the chain's tail; call once the database is open."""
        self._tail = await self._repo.tail() or (0, GENESIS_HASH)

    async def stop(self) -> None:
        """Forget the tail; the database is about to close."""
        self._tail = None

    @property
    def available(self) -> bool:
        """Whether records can be written now."""
        return self._tail is not None

    async def record_quietly(self, action: str, *, target: str, detail: dict[str, Any]) -> None:
        """Record a system action when the log is open; log, never raise, on failure.

        For records written from background work (a backpressure change), where there is no
        caller to report a failure to.
        """
        if not self.available:
            return
        try:
            await self.record(action, operator="system", target=target, detail=detail)
        except AmanError:
            _log.exception("could not audit %s", action)

    async def record(
        self,
        action: str,
        *,
        operator: str = "system",
        target: str = "",
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> AuditRecord:
        """Append one record to the chain and return it."""
        async with self._lock:
            if self._tail is None:
                await self.start()
            assert self._tail is not None
            last_id, prev_hash = self._tail
            fields: dict[str, Any] = {
                "id": last_id + 1,
                "ts_ms": self._clock.now_ms(),
                "operator": operator,
                "action": action,
                "target": target,
                "outcome": outcome,
                "detail": detail or {},
                "request_id": request_id,
            }
            record = AuditRecord(
                **fields, prev_hash=prev_hash, hash=chain_hash(prev_hash=prev_hash, **fields)
            )
            await self._repo.append(record)
            self._tail = (record.id, record.hash)
        if self._on_record is not None:
            self._on_record(record)
        return record

    async def query(
        self, query: AuditQuery, *, before_id: int | None = None, limit: int = 50
    ) -> tuple[list[AuditRecord], int | None]:
        """A page of matching records (newest first) and the id to continue before, if any."""
        rows = await self._repo.query(query, before_id=before_id, limit=limit + 1)
        more = len(rows) > limit
        page = rows[:limit]
        return page, (page[-1].id if more and page else None)

    async def verify(self) -> VerifyReport:
        """Walk the chain from the start; report the first record whose link does not hold."""
        prev_hash = GENESIS_HASH
        expected_id = 1
        checked = 0
        async for record in self._repo.iterate(batch_size=500):
            broken = self._check(record, prev_hash, expected_id)
            if broken:
                return VerifyReport(False, checked, prev_hash, BrokenLink(record.id, broken))
            prev_hash, expected_id = record.hash, record.id + 1
            checked += 1
        if self._tail is not None and self._tail[0] >= expected_id:
            # Rows were cut off the end: the chain we wrote reaches further than what is stored.
            reason = f"record(s) {expected_id}..{self._tail[0]} missing at the end of the log"
            return VerifyReport(False, checked, prev_hash, BrokenLink(expected_id, reason))
        return VerifyReport(True, checked, prev_hash)

    @staticmethod
    def _check(record: AuditRecord, prev_hash: str, expected_id: int) -> str | None:
        if record.id != expected_id:
            return f"record(s) {expected_id}..{record.id - 1} missing before this one"
        if record.prev_hash != prev_hash:
            return "prev_hash does not match the hash of the record before"
        recomputed = chain_hash(
            prev_hash=record.prev_hash,
            id=record.id,
            ts_ms=record.ts_ms,
            operator=record.operator,
            action=record.action,
            target=record.target,
            outcome=record.outcome,
            detail=record.detail,
            request_id=record.request_id,
        )
        if recomputed != record.hash:
            return "content does not match its hash (the record was altered)"
        return None
