"""Browsers: which origins may call the API (CORS), and which ``Host`` names a request may carry.

A frontend served from another origin (a desktop app's webview, a dev server on another port)
can use the daemon when its origin is in ``http.cors.allow_origins``: preflights from it are
answered, its responses carry ``Access-Control-Allow-Origin`` and expose ``retry-after`` and
``x-request-id``. Credentials (cookies) are never allowed cross-origin: clients send the token.

The ``Host`` check stops DNS rebinding: a web page on a domain its owner points at 127.0.0.1
would otherwise be same-origin with the loopback daemon in a visitor's browser. A request is
served only when its ``Host`` is the bound address, ``localhost``, an address of this machine
when bound to all interfaces, or a name in ``http.allowed_hosts`` (``*`` turns the check off,
for a reverse proxy that sets its own).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from quart import Quart, Response, request

from aman.config.settings import HttpSettings, split_bind
from aman.errors import ForbiddenError

#: Request headers a cross-origin client may send (the preflight's answer).
ALLOW_HEADERS = ("authorization", "content-type", "x-aman-token", "x-aman-confirm",
                 "x-aman-operator", "idempotency-key", "last-event-id", "x-request-id")
ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: Response headers a cross-origin client may read.
EXPOSE_HEADERS = ("retry-after", "x-request-id")
#: How long a browser may reuse a preflight's answer (seconds).
MAX_AGE_SEC = 600


class HostNotAllowedError(ForbiddenError):
    """The request's Host is not a name this daemon answers to."""

    code = "host_not_allowed"
    hint = ("Call the daemon by its bound address or localhost, or add the name to "
            "http.allowed_hosts.")


class OriginNotAllowedError(ForbiddenError):
    """A preflight came from an origin that may not call the API."""

    code = "origin_not_allowed"
    hint = "Add the exact origin (scheme://host[:port]) to http.cors.allow_origins."


@dataclass(frozen=True)
class BrowserPolicy:
    """The allowed origins and Host names, decided without Quart (pure, tested alone)."""

    origins: frozenset[str]
    hosts: frozenset[str]
    any_host: bool
    any_address: bool

    @classmethod
    def from_settings(cls, http: HttpSettings) -> BrowserPolicy:
        """The policy of ``http``: its bind, ``cors.allow_origins`` and ``allowed_hosts``."""
        bind_host, _ = split_bind(http.bind)
        names = {_host_key(h) for h in http.allowed_hosts if h != "*"}
        names |= {_host_key(bind_host), "localhost"}
        unspecified = _is_unspecified(bind_host)
        return cls(frozenset(o.lower() for o in http.cors.allow_origins), frozenset(names),
                   any_host="*" in http.allowed_hosts, any_address=unspecified)

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a request carrying ``Host: host_header`` is served."""
        if self.any_host:
            return True
        if not host_header:
            return False
        host = _host_key(_strip_port(host_header))
        if host in self.hosts:
            return True
        # Bound to every interface, any address of this machine is "the bound address"; an
        # address cannot be rebound, only names can.
        return self.any_address and _is_address(host)

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether ``origin`` may read responses."""
        return origin is not None and origin.lower() in self.origins

    def response_headers(self, origin: str) -> dict[str, str]:
        """Headers of a response to an allowed cross-origin request."""
        return {"Access-Control-Allow-Origin": origin,
                "Access-Control-Expose-Headers": ", ".join(EXPOSE_HEADERS)}

    def preflight_headers(self, origin: str) -> dict[str, str]:
        """Headers of the answer to an allowed preflight."""
        return {"Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ", ".join(ALLOW_METHODS),
                "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
                "Access-Control-Max-Age": str(MAX_AGE_SEC)}


def install(app: Quart, http: HttpSettings) -> None:
    """Check Host and answer preflights before the app's own guard; add CORS headers after.

    Call it before any other ``before_request`` is registered: Quart runs them in order and a
    preflight carries no token, so it must be answered before the auth check.
    """
    policy = BrowserPolicy.from_settings(http)

    @app.before_request
    async def browser_guard() -> Response | None:
        """Refuse an unknown Host; answer a CORS preflight."""
        if not policy.host_allowed(request.headers.get("host")):
            raise HostNotAllowedError(
                f"Host {request.headers.get('host')!r} is not a name this daemon answers to")
        origin = request.headers.get("origin")
        if request.method != "OPTIONS" or origin is None or not request.headers.get(
                "access-control-request-method"):
            return None
        if not policy.origin_allowed(origin):
            raise OriginNotAllowedError(f"origin {origin!r} may not call this API")
        return Response("", status=204, headers={**policy.preflight_headers(origin),
                                                 "Vary": "Origin"})

    @app.after_request
    async def browser_headers(response: Response) -> Response:
        """Let an allowed origin read the response (never with credentials)."""
        origin = request.headers.get("origin")
        if policy.origins:
            response.vary.add("Origin")
        if policy.origin_allowed(origin) and origin is not None:
            response.headers.update(policy.response_headers(origin))
        return response


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else host


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host in ("", "*")

