"""GET /usage: what the model calls cost, grouped by agent, purpose, provider, model or day."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from quart import Blueprint, Response, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import QueryModel
from aman.http.validation import validate_query

bp = Blueprint("usage", __name__)


class UsageQuery(QueryModel):
    """Query of GET /usage."""

    from_: int | None = Field(None, alias="from", ge=0,
                              description="Epoch ms, inclusive (default: today 00:00 UTC).")
    to: int | None = Field(None, ge=0, description="Epoch ms, exclusive (default: now).")
    group_by: Literal["agent", "purpose", "provider", "model", "day"] | None = Field(
        None, description="One row per agent, purpose, provider, model or UTC day.")


@bp.get("/usage")
@policy()
@validate_query(UsageQuery)
async def usage(query: UsageQuery) -> Response:
    """Calls, input/output/cached tokens and cost in the range, in total and per group."""
    totals = await runtime().usage.totals(from_ms=query.from_, to_ms=query.to,
                                          group_by=query.group_by)
    return jsonify(totals)
