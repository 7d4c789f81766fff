"""Errors of chat sessions, each with a stable code and a hint that says what to do."""

from __future__ import annotations

from aman.errors import ConflictError, InvalidInputError, NotFoundError, RateLimitedError


class SessionNotFoundError(NotFoundError):
    """No chat session has that id."""

    code = "session_not_found"
    hint = "GET /chat/sessions lists the sessions; POST /chat/session/create starts one."


class SessionClosedError(ConflictError):
    """The session is closed and takes no more messages."""

    code = "session_closed"
    hint = "A closed session stays readable; POST /chat/session/create to start a new one."


class VersionConflictError(ConflictError):
    """``expected_version`` differs from the session's version: someone else changed it."""

    code = "version_conflict"
    hint = "GET /chat/session/{id}/state for the current version and messages, then try again."


class SessionBusyError(RateLimitedError):
    """More messages wait for the session than its agent's ``queue_max_size``."""

    code = "session_busy"
    hint = ("Wait for the queued replies (GET /chat/session/{id}/stream shows them) and send "
            "again after Retry-After seconds, or raise agents.<id>.queue_max_size.")


class ReplyInProgressError(ConflictError):
    """Edit or retry while a reply is being generated or messages wait."""

    code = "reply_in_progress"
    hint = "POST /chat/session/{id}/stop first, or wait until the session is idle."


class NotRetryableError(ConflictError):
    """Retry from a state other than error or idle, or with nothing to regenerate."""

    code = "session_not_retryable"
    hint = ("Retry works once a reply finished or failed (state idle or error); "
            "send a message first.")


class MessageNotFoundError(NotFoundError):
    """The session has no message with that id."""

    code = "message_not_found"
    hint = "GET /chat/session/{id}/history?all=true lists the session's message ids."


class MessageNotEditableError(InvalidInputError):
    """Only a current (not superseded) user message can be edited."""

    code = "message_not_editable"
    hint = ("Pick a user message from GET /chat/session/{id}/state "
            "(superseded ones stay as they are).")
