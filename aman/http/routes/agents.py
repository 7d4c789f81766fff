"""Agents: list, one agent, set its status, reload it from the config file.

``/agent/start`` and ``/agent/shutdown`` (routes/runtime.py) are static rules, which the router
prefers over ``/agent/<agent_id>``, so those two POSTs never reach this blueprint.
"""

from __future__ import annotations

import asyncio

from pydantic import Field
from quart import Blueprint, Response, g, jsonify
from werkzeug.exceptions import MethodNotAllowed

from aman.agents import STATUSES
from aman.config.loader import reread_settings
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody
from aman.http.validation import responds, validate_body

bp = Blueprint("agents", __name__)

#: POST-only runtime routes (routes/runtime.py) that share the ``/agent/<x>`` shape.
_RUNTIME_ACTIONS = frozenset({"start", "shutdown"})


@bp.get("/agents")
@policy()
async def list_agents() -> Response:
    """Every configured agent: descriptor, status, system_state, active_session_id."""
    return jsonify({"items": runtime().agents.listing()})


@bp.get("/agent/<agent_id>")
@policy()
@responds(ErrorBody, 404)
async def get_agent(agent_id: str) -> Response:
    """One agent; 404 ``agent_not_found`` listing the configured ids."""
    agents = runtime().agents
    if agent_id in _RUNTIME_ACTIONS and agent_id not in {a.agent_id for a in agents.all()}:
        # GET on a runtime action stays what it was before this route existed: 405, Allow: POST.
        raise MethodNotAllowed(valid_methods=["POST"])
    return jsonify({**agents.snapshot(agent_id),
                    "heartbeat": runtime().heartbeat.state(agent_id)})


class StatusRequest(BodyModel):
    """Body of POST /agent/{agent_id}/status."""

    status: str = Field(min_length=1, max_length=40,
                        description=f"One of {', '.join(STATUSES)} (any letter case).",
                        json_schema_extra={"enum": list(STATUSES)})


@bp.post("/agent/<agent_id>/status")
@policy(action="agent.status", target="agent:{agent_id}")
@validate_body(StatusRequest)
@responds(ErrorBody, 404)
async def set_status(agent_id: str, body: StatusRequest) -> Response:
    """Set the status by hand; 400 ``invalid_agent_status`` lists the allowed ones."""
    agents = runtime().agents
    previous = agents.get(agent_id).status
    snapshot = agents.set_status(agent_id, body.status)
    g.audit_detail = {"previous": previous, "status": snapshot["status"]}
    return jsonify({"ok": True, "agent_id": agent_id, **snapshot})


@bp.post("/agent/<agent_id>/reload")
@policy(action="agent.reload", target="agent:{agent_id}")
@responds(ErrorBody, 404)
async def reload(agent_id: str) -> Response:
    """Re-read the config file the daemon started with and put this agent's entry in force.

    400 ``invalid_config`` naming the key when the file no longer validates (or names a
    provider or soul the daemon does not have); the old agent then stays in force. 404 when the
    agent is neither running nor in the file.
    """
    rt = runtime()
    fresh = await asyncio.to_thread(reread_settings, rt.config_path, rt.settings,
                                    keeps=f"agent {agent_id}")
    result = rt.agents.reload(agent_id, fresh)
    g.audit_detail = {k: result[k] for k in ("added", "removed", "changed")}
    agent = None if result["removed"] else rt.agents.snapshot(agent_id)
    return jsonify({**result, "agent": agent})
