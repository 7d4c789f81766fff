"""Records every state-changing request, and every refused one, in the audit log.

Runs once per response from the app's after-request hook, so no route can forget it. A route
that must write its record itself (shutdown closes storage) sets ``g.audited``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quart import Request, Response, g

from aman.errors import AmanError
from aman.http import confirm
from aman.http.policy import RoutePolicy

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

log = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def outcome_of(status: int, error_code: str | None) -> str:
    """A short word for what happened to the request."""
    if error_code == "confirmation_required":
        return "confirmation_required"
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "forbidden"
    if status < 400:
        return "ok"
    if status < 500:
        return "rejected"
    return "failed"


async def record_request(
    runtime: Runtime, request: Request, response: Response, spec: RoutePolicy
) -> None:
    """Append an audit record if the request changed state or was refused."""
    if getattr(g, "audited", False):
        return
    status = response.status_code
    error_code: str | None = getattr(g, "error_code", None)
    outcome = outcome_of(status, error_code)
    refused = outcome in ("unauthorized", "forbidden", "confirmation_required")
    changing = spec.audit and request.method not in _SAFE_METHODS and request.url_rule is not None
    if not (refused or changing):
        return
    detail = {"method": request.method, "path": request.path, "status": status}
    if error_code:
        detail["error_code"] = error_code
    detail.update(getattr(g, "audit_detail", {}))
    action = spec.action or f"http.{request.method.lower()}"
    if not runtime.audit.available:
        log.warning("audit log unavailable (runtime %s); not recorded: %s %s %s",
                    runtime.state.value, action, outcome, request.path)
        return
    try:
        await runtime.audit.record(
            action,
            operator=confirm.operator(request),
            target=spec.target_for(request.view_args, request.path),
            outcome=outcome,
            detail=detail,
            request_id=getattr(g, "request_id", None),
        )
    except AmanError:
        log.exception("could not write the audit record for %s %s", action, request.path)
