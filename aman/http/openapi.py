"""OpenAPI generation that tells the truth about errors and auth.

quart-schema documents only what routes declare; this provider adds, from each route's policy,
the error responses every route can give (401, 403 and 429 unless public, 409 when confirmation
is needed, 503 when it needs the runtime, 500 always), the security requirement, and the scopes
that open the route (``x-aman-scopes``: any one of them).
"""

from __future__ import annotations

from typing import Any

from quart_schema import APIKeySecurityScheme, HttpSecurityScheme, OpenAPIProvider
from werkzeug.routing import Rule

from aman.auth.scopes import required_scopes
from aman.http.policy import policy_of
from aman.http.schemas import ErrorBody

_DESCRIPTIONS = {
    400: ("Invalid input: malformed JSON, a schema violation (the field path is named) "
          "or a bad value."),
    401: "Missing, unknown, revoked or expired API key or token.",
    403: "The key lacks the scope this route needs (scope_required) or may not reach the agent.",
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


class AmanOpenAPIProvider(OpenAPIProvider):
    """Adds policy-derived error responses and security to every operation."""

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """Build as quart-schema does, then add what the route's policy implies."""
        paths, components = super().build_paths(rule)
        spec = policy_of(self._app.view_functions[rule.endpoint])
        error_object, error_components = self.build_response_object(ErrorBody, None)
        components.update(error_components)
        statuses = {500}
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
                for status in sorted(statuses):
                    if status not in responses and str(status) not in responses:
                        responses[status] = {**error_object, "description": _DESCRIPTIONS[status]}
                for status, response in responses.items():
                    if int(status) >= 400 and not response.get("description"):
                        response["description"] = _DESCRIPTIONS.get(int(status), "Error.")
                operation["responses"] = responses
                operation["security"] = (
                    [] if spec.public
                    else [{"bearer": []}, {"token_header": []}, {"console_cookie": []}]
                )
                if not spec.public:
                    operation["x-aman-scopes"] = list(required_scopes(method, spec.scopes))
                operations[method] = operation
        return paths, components
