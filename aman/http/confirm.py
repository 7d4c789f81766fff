"""THE confirmation check for destructive actions, and the operator named in audit records."""

from __future__ import annotations

from quart import Request, g

from aman.errors import ConfirmationRequiredError
from aman.http.policy import RoutePolicy

CONFIRM_HEADER = "x-aman-confirm"
OPERATOR_HEADER = "x-aman-operator"
DEFAULT_OPERATOR = "api"
_MAX_OPERATOR_LENGTH = 128


def confirmed(request: Request) -> bool:
    """Whether the request carries ``x-aman-confirm: yes`` (trimmed, any case)."""
    return request.headers.get(CONFIRM_HEADER, "").strip().lower() == "yes"


def check(request: Request, policy: RoutePolicy) -> None:
    """Raise ``ConfirmationRequiredError`` for a destructive route sent without confirmation."""
    if policy.confirm and not confirmed(request):
        action = policy.action or request.path
        raise ConfirmationRequiredError(
            f"{action} is destructive and needs explicit confirmation; nothing was changed"
        )


def operator(request: Request) -> str:
    """The operator from ``x-aman-operator`` (trimmed, non-empty), else the API key's name, else
    ``api`` (the bootstrap token, or authentication off)."""
    name = request.headers.get(OPERATOR_HEADER, "").strip()
    if name:
        return name[:_MAX_OPERATOR_LENGTH]
    principal = getattr(g, "principal", None)
    key_name = getattr(principal, "name", None) if getattr(principal, "key_id", None) else None
    return key_name or DEFAULT_OPERATOR
