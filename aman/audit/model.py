"""The audit log's values: records, queries, the verification report and the chain rule.

Each record stores the hash of the one before it (``chain_hash``), so editing or deleting any row
breaks the chain at that row. Any store that keeps the log uses these types and this rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One audited action."""

    id: int
    ts_ms: int
    operator: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "id": self.id,
            "ts_ms": self.ts_ms,
            "operator": self.operator,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": self.detail,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, kw_only=True)
class AuditQuery:
    """Filters for listing; ``action`` ending in ``*`` matches a prefix."""

    action: str | None = None
    operator: str | None = None
    target: str | None = None
    outcome: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    q: str | None = None


@dataclass(frozen=True)
class BrokenLink:
    """Where the chain first fails to verify."""

    id: int
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """Result of walking the whole chain."""

    ok: bool
    checked: int
    last_hash: str
    first_broken: BrokenLink | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_hash": self.last_hash,
            "first_broken": (
                {"id": self.first_broken.id, "reason": self.first_broken.reason}
                if self.first_broken
                else None
            ),
        }


class AuditRepository(Protocol):
    """Storage port for the audit log."""

    async def tail(self) -> tuple[int, str] | None:
        """Id and hash of the newest record, or None when empty."""
        ...

    async def append(self, record: AuditRecord) -> None:
        """Store one record."""
        ...

    async def query(
        self, query: AuditQuery, *, before_id: int | None, limit: int
    ) -> list[AuditRecord]:
        """Matching records, newest first, with id below ``before_id``."""
        ...

    def iterate(self, batch_size: int) -> AsyncIterator[AuditRecord]:
        """Every record, oldest first."""
        ...


def chain_hash(
    *,
    prev_hash: str,
    id: int,
    ts_ms: int,
    operator: str,
    action: str,
    target: str,
    outcome: str,
    detail: dict[str, Any],
    request_id: str | None,
) -> str:
    """SHA-256 over the previous hash and the record's canonical JSON."""
    body = json.dumps(
        [id, ts_ms, operator, action, target, outcome, detail, request_id],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()
