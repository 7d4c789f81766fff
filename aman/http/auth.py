"""THE token check: ``Authorization: Bearer <token>`` or ``x-aman-token: <token>``.

Applied to every route except those whose policy is public (the contract's public list). The
comparison is constant-time. With no token configured, everything is allowed: the settings refuse
that combination on any non-loopback bind.
"""

from __future__ import annotations

import hmac

from quart import Request

from aman.errors import UnauthorizedError
from aman.http.policy import RoutePolicy


def presented_token(request: Request) -> str | None:
    """The token the client sent, from either header."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    alternative = request.headers.get("x-aman-token")
    return alternative.strip() if alternative is not None else None


def token_matches(expected: str, presented: str | None) -> bool:
    """Constant-time comparison; an empty expected token matches everything."""
    if not expected:
        return True
    if presented is None:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def check(request: Request, expected: str, policy: RoutePolicy) -> None:
    """Raise ``UnauthorizedError`` unless the route is public or the token matches."""
    if policy.public or not expected:
        return
    presented = presented_token(request)
    if presented is None:
        raise UnauthorizedError("this route needs the API token and none was sent")
    if not token_matches(expected, presented):
        raise UnauthorizedError("the API token sent does not match http.token")
