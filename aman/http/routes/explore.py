"""Explore: start reading a configured feed with the agent."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.http import confirm
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody, ResponseModel
from aman.http.validation import responds, validate_body

bp = Blueprint("explore", __name__)


class ExploreRequest(BodyModel):
    """Body of POST /explore/start."""

    agent_key: str | None = Field(None, min_length=1, max_length=100,
                                  description="Agent that explores; default: the default agent.")
    source: str | None = Field(None, min_length=1, max_length=2000,
                               description="One of info_hub.sources, by name or by its URL; "
                                           "default: random.")


class ExploreStarted(ResponseModel):
    """Answer of POST /explore/start: where to watch the run."""

    session_id: str = Field(description="The chat session the steps are posted to.")
    source: str = Field(description="Name of the source being read.")
    url: str = Field(description="The feed's URL.")
    agent_id: str


@bp.post("/explore/start")
@policy(action="explore.start", target="explore")
@validate_body(ExploreRequest)
@responds(ExploreStarted)
@responds(ErrorBody, 404)
async def start(body: ExploreRequest) -> Response:
    """Create a session and explore in the background; 400 ``no_sources``, 404 unknown source."""
    started = await runtime().explore.start(agent_key=body.agent_key, source=body.source,
                                            operator=confirm.operator(request))
    g.audit_detail = started
    return jsonify(started)
