"""OpenAPI generation that tells the truth about errors and auth.

quart-schema documents only what routes declare; this provider adds, from each route's policy,
the responses every route can give: a 200 when the route declares no success, 403 always (the
Host check, see ``aman.http.cors``, and a key's scopes), 401 and 429 unless public, 404 when the
path names something (an id, a name), 400 and 413 with a body, 409 when confirmation is needed,
503 when it needs the runtime, 500 always; the security requirement, and the scopes that open
the route (``x-aman-scopes``: any one of them). Other statuses a route answers are declared on
the route itself (``responds``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart_schema import APIKeySecurityScheme, HttpSecurityScheme, OpenAPIProvider
from werkzeug.routing import Rule

from aman.auth.scopes import required_scopes
from aman.http.policy import policy_of
from aman.http.schemas import ErrorBody
from aman.http.validation import BODY_REQUIRED_ATTRIBUTE

_DESCRIPTIONS = {
    400: ("Invalid input: malformed JSON, a schema violation (the field path is named) "
          "or a bad value."),
    401: "Missing, unknown, revoked or expired API key or token.",
    403: ("The request's Host is not a name this daemon answers to (host_not_allowed), the key "
          "lacks the scope this route needs (scope_required) or may not reach the agent, or "
          "the action is not allowed here."),
    404: "Nothing by that id or name (the error code says what was looked for).",
    409: "Confirmation required (x-aman-confirm: yes) or a state conflict.",
    413: "Request body larger than http.max_body_bytes.",
    500: "Unexpected error; the body carries a request_id found in the daemon log.",
    429: "Too many refused credentials from this address; see Retry-After.",
    503: "The runtime is not ready (booting, draining or stopped); see Retry-After.",
}

SECURITY_SCHEMES = {
    "bearer": HttpSecurityScheme(scheme="bearer"),
    "token_header": APIKeySecurityScheme(name="x-aman-token", in_="header"),
    # The console's sign-in cookie (POST /ui/session); unsafe methods also need x-aman-csrf.
    "console_cookie": APIKeySecurityScheme(name="aman_console", in_="cookie"),
}


#: Attribute marking a view whose success is text of one media type rather than JSON.
_TEXT_ATTRIBUTE = "_aman_text_response"
F = TypeVar("F", bound=Callable[..., Any])


def text_response(media_type: str, description: str) -> Callable[[F], F]:
    """Document a route whose 200 is ``media_type`` text (Prometheus, an event stream)."""

    def decorator(view: F) -> F:
        setattr(view, _TEXT_ATTRIBUTE, (media_type, description))
        return view

    return decorator


#: Attribute holding the values path parameters may take: {parameter: (values, ...)}.
_PATH_VALUES_ATTRIBUTE = "_aman_path_values"


def path_values(**values: tuple[str, ...]) -> Callable[[F], F]:
    """Document the only values a path parameter takes (``target=("memory", "user")``)."""

    def decorator(view: F) -> F:
        setattr(view, _PATH_VALUES_ATTRIBUTE, values)
        return view

    return decorator


class AmanOpenAPIProvider(OpenAPIProvider):
    """Adds policy-derived error responses and security to every operation."""

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """Build as quart-schema does, then add what the route's policy implies."""
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        spec = policy_of(view)
        text = getattr(view, _TEXT_ATTRIBUTE, None)
        body_required = bool(getattr(view, BODY_REQUIRED_ATTRIBUTE, False))
        enums: dict[str, tuple[str, ...]] = getattr(view, _PATH_VALUES_ATTRIBUTE, {})
        error_object, error_components = self.build_response_object(ErrorBody, None)
        components.update(error_components)
        statuses = {403, 500}
        if rule.arguments:
            statuses.add(404)
        if enums:  # a path value outside the documented ones is refused as invalid input
            statuses.add(400)
        if not spec.public:
            statuses.update({401, 403, 429})
        if spec.confirm:
            statuses.add(409)
        if spec.needs_runtime:
            statuses.add(503)
        if rule.methods and rule.methods & {"POST", "PUT", "PATCH"}:
            statuses.update({400, 413})
        for operations in paths.values():
            for method, operation in operations.items():
                responses = dict(operation.get("responses", {}))
                if text is not None:
                    responses[200] = {"description": text[1], "content": {
                        text[0]: {"schema": {"type": "string"}}}}
                elif not any(200 <= int(status) < 300 for status in responses):
                    responses[200] = {"description": "OK: a JSON object.",
                                      "content": {"application/json": {
                                          "schema": {"type": "object"}}}}
                for status in sorted(statuses):
                    if status not in responses and str(status) not in responses:
                        responses[status] = {**error_object, "description": _DESCRIPTIONS[status]}
                for status, response in responses.items():
                    if int(status) >= 400 and not response.get("description"):
                        response["description"] = _DESCRIPTIONS.get(int(status), "Error.")
                operation["responses"] = responses
                if body_required and "requestBody" in operation:
                    operation["requestBody"]["required"] = True
                for parameter in operation.get("parameters", []):
                    _query_parameter(parameter)
                    if parameter.get("in") == "path" and parameter.get("name") in enums:
                        parameter["schema"] = {"type": "string",
                                               "enum": list(enums[parameter["name"]])}
                operation["security"] = (
                    [] if spec.public
                    else [{"bearer": []}, {"token_header": []}, {"console_cookie": []}]
                )
                if not spec.public:
                    operation["x-aman-scopes"] = list(required_scopes(method, spec.scopes))
                operations[method] = operation
        return paths, components


def _query_parameter(parameter: dict[str, Any]) -> None:
    """Say which query parameters are required, and that an optional one may be empty.

    pydantic writes a default for every optional field, so none means required. An empty
    optional value (``?cursor=``) is read as not given, which the schema must allow.
    """
    if parameter.get("in") != "query":
        return
    schema = parameter.get("schema", {})
    if "default" not in schema:
        parameter["required"] = True
        return
    parameter["schema"] = {"anyOf": [{k: v for k, v in schema.items() if k != "default"},
                                     {"type": "string", "maxLength": 0}],
                           "default": schema["default"]}
