"""THE mapping from errors to HTTP: category → status, and one JSON body for every error.

Body: ``{"error": {"code", "message", "hint", "request_id"[, "details"]}}``. Never HTML, never a
stack trace. Lookup walks the exception's MRO, so a new concrete error only needs the right base.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from quart import Quart, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from aman import errors as e
from aman.chat.openai_api import error_type

log = logging.getLogger(__name__)

STATUS_BY_CATEGORY: dict[type[e.AmanError], int] = {
    e.InvalidInputError: 400,
    e.UnauthorizedError: 401,
    e.ForbiddenError: 403,
    e.NotFoundError: 404,
    e.ConflictError: 409,
    e.PayloadTooLargeError: 413,
    e.UnprocessableError: 422,
    e.RateLimitedError: 429,
    e.InternalError: 500,
    e.UnavailableError: 503,
}

#: werkzeug's own HTTP errors (routing, body size, …) as stable codes and hints.
_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Check the request syntax and body."),
    404: ("not_found", "Check the path; GET /openapi.json lists every route."),
    405: ("method_not_allowed", "Use one of the methods in the Allow header."),
    408: ("request_timeout", "Send the request body faster."),
    413: ("payload_too_large", "Send a smaller body or raise http.max_body_bytes."),
    415: ("unsupported_media_type", "Send JSON with 'Content-Type: application/json'."),
}


#: Routes that answer errors in OpenAI's shape.
OPENAI_PREFIX = "/v1/"


def status_for(error: e.AmanError) -> int:
    """The HTTP status of an aman error, by its category."""
    for klass in type(error).__mro__:
        if klass in STATUS_BY_CATEGORY:
            return STATUS_BY_CATEGORY[klass]
    return 500


def error_body(code: str, message: str, hint: str,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape."""
    body: dict[str, Any] = {"code": code, "message": message, "hint": hint}
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if details:
        body["details"] = details
    return {"error": body}


def error_response(
    status: int,
    code: str,
    message: str,
    hint: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A JSON error response; ``extra`` adds top-level keys (health routes add the phase).

    Under ``/v1/`` (the OpenAI-compatible API) the body is OpenAI's error shape, so OpenAI
    clients can read it; the hint rides along as an extra field.
    """
    if request.path.startswith(OPENAI_PREFIX):
        payload = {"error": {"message": message, "type": error_type(status), "param": None,
                             "code": code, "hint": hint}}
    else:
        payload = error_body(code, message, hint, details)
    if extra:
        payload.update(extra)
    response = jsonify(payload)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


async def _handle_aman_error(error: e.AmanError) -> Response:
    status = status_for(error)
    headers: dict[str, str] = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = _retry_after(retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="aman"'
    if isinstance(error, e.InternalError):
        log.error("request %s failed: %s", getattr(g, "request_id", "-"), error)
    g.error_code = error.code
    return error_response(
        status, error.code, error.message, error.hint, details=error.details, headers=headers
    )


async def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code, hint = _HTTP_CODES.get(status, ("http_error", "See the message."))
    if status == 404:
        message = f"no route {request.method} {request.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.path}"
    elif status == 413:
        message = "request body is larger than http.max_body_bytes"
    else:
        message = error.description or error.name
    headers = {}
    if status == 405:
        allowed = error.get_response().headers.get("Allow")
        if allowed:
            headers["Allow"] = allowed
    g.error_code = code
    return error_response(status, code, message, hint, headers=headers)


async def _handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return await _handle_http_exception(error)
    if isinstance(error, e.AmanError):
        return await _handle_aman_error(error)
    log.exception("unexpected error in request %s", getattr(g, "request_id", "-"), exc_info=error)
    g.error_code = e.InternalError.code
    return error_response(
        500,
        e.InternalError.code,
        "an unexpected error occurred",
        "This is a bug; report it with the request_id, which is also in the daemon log.",
    )


def install_error_handlers(app: Quart) -> None:
    """Register the handlers on ``app``."""
    app.register_error_handler(e.AmanError, _handle_aman_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
