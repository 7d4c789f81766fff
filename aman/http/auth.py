"""THE auth check: who the request is (a key, the bootstrap token) and whether its scopes allow
the route. Credentials: ``Authorization: Bearer <secret>``, ``x-aman-token: <secret>``, or the
console's sign-in cookie, which stands for the secret it was traded for (``aman/ui/session.py``);
with an unsafe method the cookie also needs its ``x-aman-csrf`` header, so a page on another
site cannot make the browser act with it.

Applied to every route except those whose policy is public. With no ``http.token`` configured
authentication is off and every request acts with every scope (the settings refuse that on any
non-loopback bind). Refusals (401, 403) are counted per source address; an address past the
limit gets 429 for a while, so guessing keys is slow.
"""

from __future__ import annotations

from quart import Request, g

from aman.auth.model import Principal, unrestricted
from aman.auth.scopes import allows, required_scopes
from aman.auth.service import KeyService
from aman.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from aman.http.policy import RoutePolicy
from aman.ui import session as console

#: Who a request acts as when authentication is off.
_OPEN = unrestricted("api")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_token(request: Request) -> str | None:
    """The secret the client sent, from either header."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    alternative = request.headers.get("x-aman-token")
    return alternative.strip() if alternative is not None else None


def source_address(request: Request) -> str:
    """The client's address, for counting refusals."""
    return request.remote_addr or "unknown"


def check_blocked(request: Request, keys: KeyService, now_ms: int) -> None:
    """Raise 429 while the request's address is blocked for too many refusals."""
    wait_ms = keys.failures.blocked_for_ms(source_address(request), now_ms)
    if wait_ms:
        g.audited = True  # the block itself was audited once when it began
        raise RateLimitedError("too many refused credentials from this address",
                               retry_after=wait_ms / 1000,
                               hint="Check the key you send; wait for Retry-After seconds.")


def authenticate(request: Request, keys: KeyService, secret: str | None) -> Principal:
    """The principal behind ``secret`` (401 when it is missing or not valid)."""
    if not keys.enforced:
        return _OPEN
    if secret is None:
        raise UnauthorizedError("this route needs an API key or the token and none was sent",
                                hint="Send 'Authorization: Bearer <key>'.")
    return keys.authenticate(secret)


def console_grant(request: Request, keys: KeyService) -> console.Grant | None:
    """The console cookie's grant, None without one; a bad cookie or a missing CSRF header is
    refused (401)."""
    value = request.cookies.get(console.COOKIE_NAME)
    if value is None or not keys.enforced:
        return None
    grant = console.verify(keys.signing_key(), value, now_ms=keys.now_ms())
    if grant is None:
        raise UnauthorizedError("the console session has expired or was revoked",
                                hint="Sign in again at /ui/.")
    if request.method not in _SAFE_METHODS and not console.csrf_matches(
            grant, request.headers.get(console.CSRF_HEADER)):
        raise UnauthorizedError(
            f"a {request.method} with the console cookie needs the {console.CSRF_HEADER} header",
            hint="Send the csrf value GET /ui/session returns, or an API key instead.")
    return grant


def console_principal(request: Request, keys: KeyService) -> Principal | None:
    """Who the console cookie signed in as (None without a cookie); 401 once that key is gone."""
    grant = console_grant(request, keys)
    return None if grant is None else keys.principal_of(grant.key_id)


def require(principal: Principal, required: tuple[str, ...], what: str) -> None:
    """Raise 403 ``scope_required`` unless ``principal`` holds one of ``required``."""
    if not allows(principal.scopes, required):
        needed = " or ".join(required)
        raise ForbiddenError(
            f"{what} needs the {needed} scope; key {principal.name!r} has "
            f"{', '.join(sorted(principal.scopes))}",
            code="scope_required", details={"required": list(required)},
            hint=f"Use a key with the {needed} scope (docs/auth.md lists what each opens).")


def check(request: Request, keys: KeyService, policy: RoutePolicy) -> None:
    """Authenticate the request and check its scope; sets ``g.principal``."""
    if policy.public:
        g.principal = _OPEN if not keys.enforced else None
        return
    secret = presented_token(request)
    principal = console_principal(request, keys) if secret is None else None
    if principal is None:  # a header's secret, or no credentials at all (401)
        principal = authenticate(request, keys, secret)
    g.principal = principal
    required = required_scopes(request.method, policy.scopes)
    require(principal, required, f"{request.method} {request.path}")


def current_principal() -> Principal:
    """Who the current request acts as (authentication off: every scope)."""
    found = getattr(g, "principal", None)
    return found if isinstance(found, Principal) else _OPEN


def require_agent(agent_id: str) -> None:
    """Raise 403 when the current key's chat and memory may not reach ``agent_id``."""
    principal = current_principal()
    if not principal.may_use_agent(agent_id):
        allowed = ", ".join(sorted(principal.agents or ())) or "none"
        raise ForbiddenError(f"key {principal.name!r} may not use agent {agent_id!r}",
                             code="agent_not_allowed",
                             hint=f"This key reaches only: {allowed}.")
