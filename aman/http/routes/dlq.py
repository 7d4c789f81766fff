"""The dead-letter queue: list, depth, inspect, retry and discard."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.errors import InvalidCursorError
from aman.events.model import DlqQuery
from aman.http import confirm
from aman.http.context import runtime
from aman.http.pagination import decode_cursor, encode_cursor
from aman.http.policy import policy
from aman.http.schemas import BodyModel, JsonObject, PageQuery
from aman.http.validation import responds, validate_body, validate_query

bp = Blueprint("dlq", __name__)


class DlqListQuery(PageQuery):
    """Filters of GET /dlq (case-insensitive equality)."""

    reason: str | None = None
    source: str | None = None
    event_type: str | None = None
    status: str = Field("active", pattern="^(active|retrying|resolved|discarded|archived)$")


@bp.get("/dlq")
@policy()
@validate_query(DlqListQuery)
async def list_entries(query: DlqListQuery) -> Response:
    """Entries oldest first, with cursor pagination."""
    after = None
    if query.cursor:
        position = decode_cursor(query.cursor, required=("t", "id"))
        if not isinstance(position["t"], int) or not isinstance(position["id"], str):
            raise InvalidCursorError(f"cursor {query.cursor[:40]!r} was not issued by GET /dlq")
        after = (position["t"], position["id"])
    filters = DlqQuery(reason=query.reason, source=query.source, event_type=query.event_type,
                       status=query.status)
    items, next_position = await runtime().dlq.page(filters, after, query.limit)
    return jsonify({
        "items": [entry.to_json() for entry in items],
        "next_cursor": (encode_cursor({"t": next_position[0], "id": next_position[1]})
                        if next_position else None),
    })


@bp.get("/dlq/depth")
@policy()
async def depth() -> Response:
    """How many entries wait for a decision."""
    return jsonify({"depth": await runtime().dlq.depth()})


@bp.get("/dlq/<entry_id>")
@policy()
async def get_entry(entry_id: str) -> Response:
    """One entry with its history."""
    return jsonify((await runtime().dlq.get(entry_id)).to_json())


class RetryRequest(BodyModel):
    """Optional body of POST /dlq/{id}/retry."""

    reason: str | None = Field(None, max_length=500)


@bp.post("/dlq/<entry_id>/retry")
@policy(confirm=True, action="dlq.retry", target="dlq:{entry_id}")
@responds(JsonObject, 202)
@validate_body(RetryRequest)
async def retry(entry_id: str, body: RetryRequest) -> Response:
    """Re-deliver the event to the handler that failed; 202 while it runs."""
    entry = await runtime().dlq.retry(entry_id, operator=confirm.operator(request),
                                      reason=body.reason)
    g.audit_detail = {"manual_retries": entry.manual_retries, "handler": entry.handler}
    response = jsonify(entry.to_json())
    response.status_code = 202
    return response


@bp.post("/dlq/<entry_id>/discard")
@policy(action="dlq.discard", target="dlq:{entry_id}")
async def discard(entry_id: str) -> Response:
    """Take the entry out of the queue; returns it."""
    entry = await runtime().dlq.discard(entry_id, operator=confirm.operator(request))
    g.audit_detail = {"event_id": entry.event.id, "handler": entry.handler}
    return jsonify(entry.to_json())
