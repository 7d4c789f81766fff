"""Tools: list them and run one directly.

``POST /tools/{name}/execute`` runs no approval dialog (plugin scripts and operators call it), so
a tool whose effective sensitivity is ``high`` needs ``x-aman-confirm: yes`` instead; hardline
blocks apply before that and cannot be confirmed away.
"""

from __future__ import annotations

from quart import Blueprint, Response, g, jsonify, request

from aman.errors import AmanError, ConfirmationRequiredError
from aman.http import confirm
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ErrorBody
from aman.http.validation import read_json_object, responds
from aman.ids import uuid7
from aman.tools.model import Sensitivity, ToolContext, ToolFailedError, tool_roots

bp = Blueprint("tools", __name__)


@bp.get("/tools")
@policy()
async def list_tools() -> Response:
    """Every registered tool: name, description, schema, effective sensitivity, source."""
    return jsonify({"items": runtime().tools.listing()})


@bp.post("/tools/<name>/execute")
@policy(action="tool.execute", target="tool:{name}")
@responds(ErrorBody, 403)
@responds(ErrorBody, 404)
@responds(ErrorBody, 409)
async def execute(name: str) -> Response:
    """Run tool ``name`` with the JSON body as its parameters → ``{tool, duration_ms, output}``.

    404 ``tool_not_found``; 400 ``validation_error`` naming the field path; 400 ``tool_failed``;
    403 ``tool_blocked`` (hardline) or ``path_not_allowed``; 409 ``confirmation_required`` for a
    ``high`` tool without ``x-aman-confirm: yes``.
    """
    rt = runtime()
    tools = rt.tools
    tools.get(name)  # 404 before reading the body
    arguments = await read_json_object()
    settings = rt.settings.tools
    ctx = ToolContext(call_id=f"{name}-{uuid7()}", agent_id=None,
                      roots=tool_roots(rt.settings), max_output_bytes=settings.max_output_bytes,
                      exec_timeout_sec=settings.exec_timeout_sec,
                      emit=lambda kind, payload: rt.bus.emit(kind, payload, source="tools"),
                      network_allow=tuple(settings.network.allow))
    g.audit_detail = {"call_id": ctx.call_id}
    if tools.sensitivity(name) is Sensitivity.HIGH and not confirm.confirmed(request):
        blocked = await tools.screen(name, arguments, ctx)  # a hardline block wins over 409
        if blocked is None:
            raise ConfirmationRequiredError(
                f"tool {name!r} is high sensitivity and runs without an approval dialog here; "
                "nothing was run")
        result = blocked
    else:
        result = await tools.execute(name, arguments, ctx)
    g.audit_detail.update({"status": result.status, "duration_ms": round(result.duration_ms, 3)})
    if result.status != "success":
        if isinstance(result.error, AmanError):
            raise result.error
        raise ToolFailedError(str(result.reason or result.output))
    return jsonify({"tool": name, "call_id": ctx.call_id, "status": result.status,
                    "duration_ms": round(result.duration_ms, 3), "output": result.output,
                    "truncated": result.truncated})
