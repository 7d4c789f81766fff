"""create_app(settings) → Quart: the only builder of the HTTP app. It performs no I/O.

It builds the Runtime, registers ``routes.BLUEPRINTS``, installs the error handlers and the one
guard (auth → confirmation → readiness), and registers exactly one ``while_serving`` hook that
starts boot in the background (so /health/live answers while booting) and stops the runtime
when serving ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator

from quart import Quart, Response, g, request
from quart_schema import Info, QuartSchema

from aman import __version__
from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.errors import ForbiddenError, PayloadTooLargeError, UnauthorizedError
from aman.http import auth, confirm, cors, plugin_router, ready
from aman.http.audit_trail import record_request
from aman.http.context import RUNTIME_KEY
from aman.http.errors import install_error_handlers
from aman.http.openapi import SECURITY_SCHEMES, AmanOpenAPIProvider
from aman.http.policy import RoutePolicy, policy_of
from aman.http.routes import BLUEPRINTS
from aman.ids import request_id

POLICIES_KEY = "aman.policies"
#: Unknown paths still need the token (so probing reveals nothing) but must answer 404, not 503.
_UNMATCHED = RoutePolicy(needs_runtime=False)
#: quart-schema registers /openapi.json itself; it is served even while booting.
_EXTRA_POLICIES = {"openapi": RoutePolicy(needs_runtime=False)}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Quart:
    """Build the app and its Runtime; nothing starts until the app is served."""
    rt = runtime or Runtime(settings)
    app = Quart("aman")
    app.config["MAX_CONTENT_LENGTH"] = settings.http.max_body_bytes
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.extensions[RUNTIME_KEY] = rt
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info=Info(title="aman", version=__version__),
        security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
        openapi_provider_class=AmanOpenAPIProvider,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep fields in written order
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(plugin_router.bp)  # /api/v1: plugin routes from a runtime table
    install_error_handlers(app)

    policies = {endpoint: policy_of(view) for endpoint, view in app.view_functions.items()}
    policies.update(_EXTRA_POLICIES)
    app.extensions[POLICIES_KEY] = policies
    max_body = settings.http.max_body_bytes
    cors.install(app, settings.http)  # before the guard: a preflight carries no token

    @app.before_request
    async def guard() -> None:
        """The one guard, in order: body size, auth, confirmation, readiness."""
        g.started = time.perf_counter()
        client_id = request.headers.get("x-request-id", "")
        g.request_id = client_id if _CLIENT_REQUEST_ID.match(client_id) else request_id()
        spec = policies.get(request.endpoint or "", _UNMATCHED)
        if request.endpoint in plugin_router.ENDPOINTS:  # decided by the plugin route reached
            spec = plugin_router.policy_for(rt, request)
        g.policy = spec
        if request.content_length is not None:
            if request.content_length > max_body:
                raise PayloadTooLargeError(
                    f"request body of {request.content_length} bytes is over the limit of "
                    f"{max_body} bytes (http.max_body_bytes)"
                )
        elif request.method in _BODY_METHODS:
            # No Content-Length (chunked): read now, so Quart enforces the limit while streaming.
            await request.get_data()
        _authenticate(rt, spec)
        confirm.check(request, spec)
        ready.check(rt, spec)

    @app.after_request
    async def finish(response: Response) -> Response:
        """Count the request, tag it with its id and audit it."""
        spec: RoutePolicy = getattr(g, "policy", _UNMATCHED)
        started = getattr(g, "started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        rt.metrics.observe_request(route, request.method, response.status_code, elapsed)
        response.headers["x-request-id"] = getattr(g, "request_id", "")
        await record_request(rt, request, response, spec)
        return response

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        """Boot in the background while serving; stop the runtime when serving ends."""
        rt.start_in_background()
        yield
        await rt.stop()

    return app


def _authenticate(rt: Runtime, spec: RoutePolicy) -> None:
    """The auth check, with refusals counted per address (a block is audited once)."""
    now = rt.clock.now_ms()
    auth.check_blocked(request, rt.keys, now)
    try:
        auth.check(request, rt.keys, spec)
    except (UnauthorizedError, ForbiddenError):
        address = auth.source_address(request)
        if rt.keys.failures.failed(address, now):
            rt.tasks.spawn("audit:auth-blocked", rt.audit.record_quietly(
                "auth.blocked", target=f"address:{address}",
                detail={"address": address, "path": request.path}))
        raise
    if rt.keys.due_for_flush():
        rt.tasks.spawn("api-keys:flush", rt.keys.flush())
