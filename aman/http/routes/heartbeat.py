"""An agent's heartbeat: its recent ticks (run or skipped, and why), and waking it now."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ErrorBody, QueryModel
from aman.http.validation import responds, validate_query

bp = Blueprint("heartbeat", __name__)


class RunsQuery(QueryModel):
    """Query of GET /agents/{id}/heartbeat/runs."""

    limit: int = Field(50, ge=1, le=1000, description="Most recent ticks to return.")


@bp.get("/agents/<agent_id>/heartbeat/runs")
@policy()
@responds(ErrorBody, 404)
@validate_query(RunsQuery)
async def heartbeat_runs(agent_id: str, query: RunsQuery) -> Response:
    """Every tick, newest first: time, outcome or skip reason, tokens, what went where."""
    rt = runtime()
    runs = await rt.heartbeat.runs(agent_id, query.limit)
    return jsonify({"heartbeat": rt.heartbeat.state(agent_id),
                    "items": [run.to_json() for run in runs]})


@bp.post("/agents/<agent_id>/heartbeat/wake")
@policy(action="heartbeat.wake", target="agent:{agent_id}")
@responds(ErrorBody, 404)
@responds(ErrorBody, 409)
async def heartbeat_wake(agent_id: str) -> Response:
    """Tick now (409 ``heartbeat_off`` when the agent has none); 202, the tick runs behind."""
    runtime().heartbeat.wake(agent_id)
    response = jsonify({"ok": True, "agent_id": agent_id})
    response.status_code = 202
    return response
