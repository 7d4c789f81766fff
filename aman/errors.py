"""The one error tree of aman.

Every failure a user can see is an ``AmanError``: it carries a stable snake_case ``code``, a
``message`` built from context and a ``hint`` saying how to fix it. The tree has two levels:

    AmanError
    ├── InvalidInputError    the request or config is wrong       (ConfigError, ValidationFailed, …)
    ├── UnauthorizedError    credentials missing or wrong
    ├── ForbiddenError       understood but not allowed           (DebugDisabledError)
    ├── NotFoundError        the thing named does not exist
    ├── ConflictError        not in this state                    (ConfirmationRequiredError, …)
    ├── PayloadTooLargeError body over http.max_body_bytes
    ├── UnprocessableError   valid but can never succeed
    ├── RateLimitedError     slow down; carries retry_after
    ├── UnavailableError     try again later; carries retry_after (NotReadyError, …)
    └── InternalError        our fault                            (StartupError, StoreError, …)

Categories, not concrete classes, decide the HTTP status; that mapping lives in
``aman.http.errors`` alone. This module imports nothing from ``aman`` so every layer may use it.
"""

from __future__ import annotations

from typing import Any


class AmanError(Exception):
    """Base of every error aman reports; subclasses set ``code`` and a default ``hint``."""

    code: str = "internal_error"
    hint: str = "Check the daemon log for details."

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------


class InvalidInputError(AmanError):
    """The input (request, query, body or configuration) is wrong."""

    code = "invalid_input"
    hint = "Correct the request and send it again."


class UnauthorizedError(AmanError):
    """Credentials are missing or do not match."""

    code = "unauthorized"
    hint = "Send 'Authorization: Bearer <token>' or 'x-aman-token: <token>' with http.token."


class ForbiddenError(AmanError):
    """The caller is known but the action is not allowed."""

    code = "forbidden"
    hint = "This action is not allowed with the current configuration."


class NotFoundError(AmanError):
    """The named resource or route does not exist."""

    code = "not_found"
    hint = "Check the identifier or path; list the collection to see what exists."


class ConflictError(AmanError):
    """The action conflicts with the current state."""

    code = "conflict"
    hint = "Read the current state and try again."


class PayloadTooLargeError(AmanError):
    """The request body is larger than allowed."""

    code = "payload_too_large"
    hint = "Send a smaller body or raise http.max_body_bytes."


class UnprocessableError(AmanError):
    """The request is valid but can never succeed as asked."""

    code = "unprocessable"
    hint = "This cannot succeed; inspect the resource and decide by hand."


class RateLimitedError(AmanError):
    """Too many requests; ``retry_after`` says when to come back."""

    code = "rate_limited"
    hint = "Slow down and retry after the number of seconds in Retry-After."

    def __init__(self, message: str, *, retry_after: float = 1.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UnavailableError(AmanError):
    """Temporarily unable to serve; ``retry_after`` says when to come back."""

    code = "unavailable"
    hint = "Retry after the number of seconds in Retry-After."

    def __init__(self, message: str, *, retry_after: float = 1.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalError(AmanError):
    """A failure inside aman that the caller cannot fix."""

    code = "internal_error"
    hint = "This is a bug or an environment problem; check the daemon log for the request id."


# ---------------------------------------------------------------------------------------------
# Concrete errors
# ---------------------------------------------------------------------------------------------


class ConfigError(InvalidInputError):
    """Configuration is invalid; the message names the dotted key and the bad value."""

    code = "invalid_config"
    hint = "Fix the named key in the config file, environment or flags, then start again."


class ValidationFailedError(InvalidInputError):
    """A request body or query string failed schema validation."""

    code = "validation_error"
    hint = "Fix the field named in the message; see /openapi.json for the schema."


class InvalidJsonError(InvalidInputError):
    """The request body is not valid JSON."""

    code = "invalid_json"
    hint = "Send a valid JSON object with 'Content-Type: application/json'."


class InvalidCursorError(InvalidInputError):
    """A pagination cursor was not produced by this daemon."""

    code = "invalid_cursor"
    hint = "Pass back the next_cursor value exactly as returned, or omit cursor to start over."


class DebugDisabledError(ForbiddenError):
    """A debug endpoint was called while debug endpoints are disabled."""

    code = "debug_disabled"
    hint = "Set runtime.force_enable_debug_endpoints: true to use debug endpoints."


class ConfirmationRequiredError(ConflictError):
    """A destructive action arrived without ``x-aman-confirm: yes``."""

    code = "confirmation_required"
    hint = "Repeat the request with the header 'x-aman-confirm: yes'."


class InvalidStateError(ConflictError):
    """The runtime or a resource is not in a state that allows the action."""

    code = "invalid_state"


class NotReadyError(UnavailableError):
    """The runtime is not in phase 5 (booting, draining, stopped or failed)."""

    code = "not_ready"
    hint = "Wait until /health/ready answers 200, or POST /agent/start if the runtime is stopped."


class StartupError(InternalError):
    """A boot step failed or a startup precondition does not hold."""

    code = "startup_failed"
    hint = "Read the failure on /runtime/status, fix the cause, then POST /agent/start."


class LockHeldError(StartupError):
    """Another daemon holds the runtime directory's lock."""

    code = "runtime_dir_locked"
    hint = "Stop the other daemon, or start this one with a different --home."


class StoreError(InternalError):
    """The database failed; lower-level driver errors are translated into this."""

    code = "store_error"
    hint = "Check disk space and permissions of runtime.dir; see the daemon log."


class StoreUnavailableError(UnavailableError):
    """The database is not open (runtime stopped or not yet in phase 2)."""

    code = "store_unavailable"
    hint = "Wait until the runtime is ready, or POST /agent/start."


class BackpressureError(UnavailableError):
    """The bus is too full to accept this event now."""

    code = "backpressure"
    hint = "The event was not accepted; retry after the number of seconds in Retry-After."


class UnrecoverableError(UnprocessableError):
    """Retrying cannot help any more (e.g. a DLQ entry past its manual retry budget)."""

    code = "unrecoverable"
    hint = "Inspect the entry and fix the handler, or discard it."


class SoulBoundaryError(ForbiddenError):
    """A message or tool call runs into one of the active soul's boundaries."""

    code = "soul_boundary"
    hint = ("The soul's boundaries forbid this; rephrase the request or change the soul's "
            "boundaries.")
