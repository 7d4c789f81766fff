"""The console: its static files at ``/ui/``, ``GET /`` sending browsers there, and sign-in.

``POST /ui/session`` trades the API token for an ``HttpOnly; SameSite=Strict`` cookie that every
route accepts in place of the header (see ``aman/http/auth.py``); ``GET /ui/session`` tells the
page whether it must sign in and gives it the CSRF value; ``POST /ui/logout`` revokes the cookie.
"""

from __future__ import annotations

import gzip

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, redirect, request, send_from_directory

from aman.errors import NotFoundError, UnauthorizedError
from aman.http.auth import console_grant, source_address
from aman.http.context import runtime
from aman.http.openapi import text_response
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody, ResponseModel
from aman.http.validation import responds, validate_body
from aman.ui import STATIC_DIR
from aman.ui import session as console

bp = Blueprint("ui", __name__)

#: Only files of the console's own host, scripts and styles from files only: model output
#: rendered by a bug as HTML still cannot run a script or reach another host.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class SignInRequest(BodyModel):
    """Body of POST /ui/session."""

    token: str = Field(min_length=1, max_length=4096,
                       description="The API token (http.token) or an API key.")


class ConsoleSession(ResponseModel):
    """Body of GET and POST /ui/session."""

    auth_required: bool = Field(description="Whether the daemon has http.token set.")
    signed_in: bool
    csrf: str | None = Field(None, description="Send as x-aman-csrf with unsafe methods.")
    expires_at: int | None = Field(None, description="Epoch ms when the cookie expires.")
    name: str | None = Field(None, description="The key signed in with (api: the token).")
    scopes: list[str] | None = Field(None, description="What that key may do.")


def _signed_in(grant: console.Grant) -> dict[str, object]:
    principal = runtime().keys.principal_of(grant.key_id)
    return {"auth_required": True, "signed_in": True, "csrf": grant.csrf,
            "expires_at": grant.expires_ms, "name": principal.name,
            "scopes": sorted(principal.scopes)}


async def _file(path: str) -> Response:
    """One file of the console, revalidated on each load and gzipped when the browser accepts it
    (the whole console is then about a quarter of its size on the wire)."""
    response: Response = await send_from_directory(STATIC_DIR, path)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept-Encoding")
    if response.status_code == 200 and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(gzip.compress(await response.get_data(as_text=False), compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
        etag, weak = response.get_etag()
        if etag:
            response.set_etag(f"{etag}-gzip", bool(weak))
    return response


@bp.get("/")
@policy(public=True, needs_runtime=False, audit=False)
@responds(ErrorBody, 404)
async def root() -> Response:
    """Browsers go to the console; other clients get a 404 as for any unknown path."""
    if "text/html" not in request.headers.get("Accept", ""):
        raise NotFoundError("nothing is served at /", hint="The console is at /ui/.")
    return redirect("/ui/", 302)  # type: ignore[return-value]


@bp.get("/ui/")
@policy(public=True, needs_runtime=False)
@text_response("text/html", "The console's page.")
async def index() -> Response:
    """The console's page (public: it holds no data; it signs in before reading any)."""
    return await _file("index.html")


@bp.get("/ui/static/<path:path>")
@policy(public=True, needs_runtime=False)
@responds(ErrorBody, 404)
async def static_file(path: str) -> Response:
    """The console's scripts and styles."""
    return await _file(path)


@bp.get("/ui/session")
@policy(public=True, needs_runtime=False)
@responds(ConsoleSession)
async def session_info() -> Response:
    """Whether the page must sign in, and the CSRF value of a valid cookie."""
    keys = runtime().keys
    if not keys.enforced:
        return jsonify({"auth_required": False, "signed_in": True})
    try:
        grant = console_grant(request, keys)
        return jsonify(_signed_in(grant) if grant else {"auth_required": True,
                                                        "signed_in": False})
    except UnauthorizedError:  # expired, revoked, or its key is gone: sign in again
        return jsonify({"auth_required": True, "signed_in": False})


@bp.post("/ui/session")
@policy(public=True, needs_runtime=False, action="ui.sign_in", target="ui_session")
@validate_body(SignInRequest)
@responds(ConsoleSession)
@responds(ErrorBody, 401)
async def sign_in(body: SignInRequest) -> Response:
    """Trade the API token (or a key) for the console cookie; a wrong one is a 401 (counted
    like any refused credential) and sets nothing."""
    rt = runtime()
    keys = rt.keys
    if not keys.enforced:
        return jsonify({"auth_required": False, "signed_in": True})
    try:
        principal = keys.authenticate(body.token)
    except UnauthorizedError:  # counted like any refused credential, so guessing stays slow
        keys.failures.failed(source_address(request), keys.now_ms())
        raise
    g.principal = principal  # the audit record names who signed in
    ttl = rt.settings.http.console_session_ttl_sec
    value, grant = console.issue(keys.signing_key(), now_ms=keys.now_ms(), ttl_sec=ttl,
                                 key_id=principal.key_id)
    response = jsonify(_signed_in(grant))
    response.set_cookie(console.COOKIE_NAME, value, max_age=ttl, path="/", httponly=True,
                        samesite="Strict", secure=request.scheme == "https")
    return response


@bp.post("/ui/logout")
@policy(needs_runtime=False, action="ui.sign_out", target="ui_session",
        scopes=("read", "chat", "events:push"))
async def sign_out() -> Response:
    """Revoke the console cookie and tell the browser to drop it."""
    keys = runtime().keys
    grant = console_grant(request, keys)
    if grant is not None:
        console.revoke(grant, now_ms=keys.now_ms())
    response = jsonify({"ok": True, "revoked": grant is not None})
    response.delete_cookie(console.COOKIE_NAME, path="/", httponly=True, samesite="Strict")
    return response
