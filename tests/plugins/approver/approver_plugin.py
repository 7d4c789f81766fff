"""POST /api/v1/approver/ask: asks ``context.approvals`` for one tool call, returns the decision.

Nothing in the daemon asks for approval before the agent loop lands, so this route
drives a real request from inside the daemon: the same call the loop and plugins will make.
"""

from __future__ import annotations

from typing import Any

from aman.plugins import PluginRequest, PluginRoute, hookimpl
from aman.tools.model import Sensitivity


@hookimpl
def register_routes(context: Any) -> list[PluginRoute]:
    async def ask(request: PluginRequest) -> dict[str, Any]:
        body = request.json() or {}
        decision = await context.approvals.request(
            tool=body.get("tool", "write"), arguments=body.get("arguments", {}),
            sensitivity=Sensitivity(body.get("sensitivity", "medium")),
            call_id=body.get("call_id", "call-1"), session_id=body.get("session_id"),
            agent_id=body.get("agent_id"))
        return decision.to_json()

    return [PluginRoute("POST", "/ask", ask)]
