"""Metrics, internal figures and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field, field_validator
from quart import Blueprint, Response, jsonify

from aman.audit.model import AuditQuery
from aman.errors import InvalidCursorError
from aman.events import telemetry
from aman.http.context import runtime
from aman.http.openapi import text_response
from aman.http.pagination import decode_cursor, encode_cursor
from aman.http.policy import policy
from aman.http.schemas import PageQuery, ResponseModel
from aman.http.validation import responds, validate_query
from aman.metrics import CONTENT_TYPE

bp = Blueprint("observability", __name__)


@bp.get("/metrics")
@policy(public=True, needs_runtime=False)
@text_response("text/plain", "Prometheus text exposition format.")
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(runtime().metrics.exposition(), content_type=CONTENT_TYPE)


@bp.get("/debug/metrics")
@policy(needs_runtime=False)
async def debug_metrics() -> Response:
    """The same internal figures as JSON, plus runtime state and running tasks."""
    rt = runtime()
    return jsonify(
        {
            "phase": int(rt.phases.phase),
            "state": rt.state.value,
            "ready": rt.ready,
            "background_tasks": rt.tasks.running,
            "plugins": rt.plugins.names,
            "plugins_failed": rt.plugins.failures(),
            "event_bus": telemetry.snapshot(rt.bus, rt.dlq),
            "metrics": rt.metrics.as_json(),
        }
    )


def _to_ms(value: int | str | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be epoch milliseconds or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class AuditLogQuery(PageQuery):
    """Filters for GET /audit-log."""

    action: str | None = Field(None, description="Exact action, or a prefix ending in '*'.")
    operator: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: int | str | None = Field(None, description="Epoch ms or ISO 8601, inclusive.")
    until: int | str | None = Field(None, description="Epoch ms or ISO 8601, inclusive.")
    q: str | None = Field(None, description="Substring of action, target, operator or detail.")

    @field_validator("since", "until")
    @classmethod
    def _time(cls, value: int | str | None) -> int | None:
        return _to_ms(value)


class AuditRecordOut(ResponseModel):
    """One audit record."""

    id: int
    ts_ms: int
    operator: str
    action: str
    target: str
    outcome: str
    detail: dict[str, object]
    request_id: str | None
    prev_hash: str
    hash: str


class AuditPage(ResponseModel):
    """A page of audit records, newest first."""

    items: list[AuditRecordOut]
    next_cursor: str | None


@bp.get("/audit-log")
@policy()
@validate_query(AuditLogQuery)
@responds(AuditPage)
async def audit_log(query: AuditLogQuery) -> Response:
    """Audit records, newest first, filtered, with cursor pagination."""
    before_id = None
    if query.cursor:
        before_id = decode_cursor(query.cursor, required=("before",))["before"]
        if not isinstance(before_id, int):
            raise InvalidCursorError(
                f"cursor {query.cursor[:40]!r} was not issued by this endpoint")
    filters = AuditQuery(
        action=query.action,
        operator=query.operator,
        target=query.target,
        outcome=query.outcome,
        since_ms=query.since,  # type: ignore[arg-type]
        until_ms=query.until,  # type: ignore[arg-type]
        q=query.q,
    )
    items, next_id = await runtime().audit.query(filters, before_id=before_id, limit=query.limit)
    return jsonify(
        {
            "items": [record.to_json() for record in items],
            "next_cursor": encode_cursor({"before": next_id}) if next_id is not None else None,
        }
    )


@bp.get("/audit-log/verify")
@policy()
async def audit_verify() -> Response:
    """Walk the hash chain and report the first broken link, if any."""
    report = await runtime().audit.verify()
    return jsonify(report.to_json())
