"""Tool approvals: answer a pending request, list the open ones.

The service audits each decision itself (``tool_auth.approve`` / ``tool_auth.deny`` with the
operator), because answers also arrive outside HTTP (IM ``/approve <code>``); the route marks a
successful answer as audited so the request trail does not record it twice. Refusals (404, 409,
400) are still recorded by the trail as ``tool_auth.respond``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.http import confirm
from aman.http.auth import current_principal, require_agent
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody
from aman.http.validation import responds, validate_body

bp = Blueprint("tool_auth", __name__)


class ToolAuthRespondRequest(BodyModel):
    """Body of POST /tool-auth/respond."""

    auth_id: str = Field(min_length=1, max_length=64,
                         description="The request's auth_id, or its 6-character code.")
    approved: bool = Field(description="true runs the call, false denies it.")
    remember: Literal["session"] | None = Field(
        None, description='"session": approve this medium tool for the rest of the session '
                          "whatever its arguments (never applies to high tools).")


@bp.post("/tool-auth/respond")
@policy(action="tool_auth.respond", target="tool_auth", scopes=("chat", "operate"))
@responds(ErrorBody, 404)
@responds(ErrorBody, 409)
@validate_body(ToolAuthRespondRequest)
async def respond(body: ToolAuthRespondRequest) -> Response:
    """Approve or deny a pending request; 404 ``auth_not_found``, 409 ``already_answered``."""
    rt = runtime()
    session_id = rt.approvals.session_of(body.auth_id)
    if session_id is not None and current_principal().agents is not None:
        require_agent((await rt.chat.session(session_id))["agent_id"])
    final = await runtime().approvals.respond(body.auth_id, body.approved, body.remember,
                                              confirm.operator(request))
    g.audited = True  # the service wrote tool_auth.approve / tool_auth.deny
    return jsonify(final)


@bp.get("/tool-auth/pending")
@policy(scopes=("chat", "read"))
async def pending() -> Response:
    """Requests that can still be answered, oldest first (those of the key's agents)."""
    principal = current_principal()
    items = [item for item in await runtime().approvals.pending()
             if principal.may_use_agent(item["agent_id"])]
    return jsonify({"items": items})
