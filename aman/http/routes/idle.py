"""Idle runs: start one (``POST /idle-run``) and per-agent availability.

``/agents/idle-availability`` is a static rule, so the router never takes it for an agent id of
the ``/agent/<agent_id>`` routes (those are singular ``/agent/`` anyway).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from quart import Blueprint, Response, g, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody, ResponseModel
from aman.http.validation import responds, validate_body

bp = Blueprint("idle", __name__)

_KEY = r"^[a-z0-9][a-z0-9_.-]*$"


class IdleRunRequest(BodyModel):
    """Body of POST /idle-run."""

    # The document says what a client must send; the route keeps its own missing_tag answer.
    model_config = ConfigDict(json_schema_extra=lambda schema: _tag_required(schema))

    tag: str | None = Field(None, max_length=64,
                            description="Kind of run (study, fun, work, ...); required.")
    agent_key: str | None = Field(None, min_length=1, max_length=100,
                                  description="Agent; default: idle.agent_id, then the default.")
    background: bool = Field(False, description="Run in a background session.")
    project_key: str | None = Field(None, max_length=100, pattern=_KEY,
                                    description="With work_id: a stable, resumable session.")
    work_id: str | None = Field(None, max_length=100, pattern=_KEY)


def _tag_required(schema: dict[str, Any]) -> None:
    schema["required"] = ["tag"]
    schema["properties"]["tag"] = {"type": "string", "minLength": 1, "maxLength": 64,
                                   "pattern": r"\S",
                                   "description": "Kind of run (study, fun, work, ...)."}


class IdleRunResponse(ResponseModel):
    """The started run (its reply is generated in the session)."""

    session_id: str
    skill_name: str
    tag: str
    background: bool


@bp.post("/idle-run")
@policy(action="idle.run", target="idle")
@validate_body(IdleRunRequest)
@responds(IdleRunResponse, 201)
@responds(ErrorBody, 404)
async def idle_run(body: IdleRunRequest) -> Response:
    """Start an idle run; 201 at once while the reply runs (400 missing_tag or
    agent_unavailable, 404 no_idle_skill listing the tags there are)."""
    run = await runtime().idle.run(tag=body.tag, agent_key=body.agent_key,
                                   background=body.background, project_key=body.project_key,
                                   work_id=body.work_id)
    g.audit_detail = run.facts()
    response = jsonify(run.to_json())
    response.status_code = 201
    return response


@bp.get("/agents/idle-availability")
@policy()
async def idle_availability() -> Response:
    """``{"agents": {id: {work, study, fun}}}`` for every configured agent."""
    return jsonify({"agents": runtime().idle.availability()})
