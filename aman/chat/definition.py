"""The built-in ``message-session`` workflows a chat session runs as.

States are the message-session states in lower case. Two definitions:

- ``message-session`` (persistent sessions, the default): idle timeouts lead to ``timeout``, which
  only means nothing is held in memory; the next message resumes the session. It never closes
  by itself.
- ``message-session-background``: the full timeouts, down to ``closed``.

Departures from the table, on purpose: a new message is accepted in ``error`` (the user moves on
instead of retrying) and from ``timeout`` goes straight to ``processing`` (the table's extra stop
in ``idle`` would need a second event for nothing); ``stop_generation`` returns ``processing`` to
``idle``; ``retry_cmd`` works from ``idle`` too (regenerate the last reply); close is accepted from
every non-final state; a turn that ends after a state timeout still settles the session.
"""

from __future__ import annotations

from typing import Any

from aman.workflows.definition import WorkflowDefinition

PERSISTENT_WORKFLOW = "message-session"
BACKGROUND_WORKFLOW = "message-session-background"

ACTIVE, PROCESSING, IDLE, ERROR = "active", "processing", "idle", "error"
RETRYING, TIMEOUT, CLOSED = "retrying", "timeout", "closed"
STATES = (ACTIVE, PROCESSING, IDLE, ERROR, RETRYING, TIMEOUT, CLOSED)

# Events the chat service sends to a session's instance (workflows.send, never via the bus).
MESSAGE_RECEIVED = "message_received"
LLM_REPLY_READY = "llm_reply_ready"
LLM_STREAM_DONE = "llm_stream_done"
LLM_ERROR = "llm_error"
STREAM_TIMEOUT = "stream_timeout"
STOP_GENERATION = "stop_generation"
RETRY_CMD = "retry_cmd"
RETRY_STARTED = "retry_started"
RETRY_FAILED = "retry_failed"
SESSION_END = "session_end"
SESSION_CLOSE_CMD = "session_close_cmd"

_TRANSITIONS: list[tuple[str, str, str]] = [
    (ACTIVE, MESSAGE_RECEIVED, PROCESSING),
    (IDLE, MESSAGE_RECEIVED, PROCESSING),
    (ERROR, MESSAGE_RECEIVED, PROCESSING),
    (TIMEOUT, MESSAGE_RECEIVED, PROCESSING),
    (PROCESSING, LLM_REPLY_READY, IDLE),
    (PROCESSING, LLM_STREAM_DONE, IDLE),
    (PROCESSING, LLM_ERROR, ERROR),
    (PROCESSING, STREAM_TIMEOUT, TIMEOUT),
    (PROCESSING, STOP_GENERATION, IDLE),
    (TIMEOUT, LLM_REPLY_READY, IDLE),
    (TIMEOUT, LLM_ERROR, ERROR),
    (TIMEOUT, STOP_GENERATION, IDLE),
    (ERROR, RETRY_CMD, RETRYING),
    (IDLE, RETRY_CMD, RETRYING),
    (RETRYING, RETRY_STARTED, PROCESSING),
    (RETRYING, RETRY_FAILED, ERROR),
    (RETRYING, LLM_ERROR, ERROR),
    (ERROR, SESSION_END, IDLE),
    (IDLE, SESSION_END, CLOSED),
    (TIMEOUT, SESSION_END, CLOSED),
    ("*", SESSION_CLOSE_CMD, CLOSED),
]

#: Persistent sessions only time out into ``timeout`` (memory released), never into closed.
_PERSISTENT_TIMEOUTS = [(ACTIVE, "300s", TIMEOUT), (IDLE, "600s", TIMEOUT)]
#: Background sessions follow the state table to the end.
_BACKGROUND_TIMEOUTS = [(ACTIVE, "300s", TIMEOUT), (PROCESSING, "120s", TIMEOUT),
                        (IDLE, "600s", TIMEOUT), (ERROR, "120s", CLOSED),
                        (TIMEOUT, "120s", CLOSED)]


def _definition(name: str, description: str,
                timeouts: list[tuple[str, str, str]]) -> WorkflowDefinition:
    body: dict[str, Any] = {
        "name": name, "description": description, "version": "1",
        "states": list(STATES), "initial_state": ACTIVE, "final_states": [CLOSED],
        "error_state": ERROR,
        "transitions": [{"from": f, "event": e, "to": t} for f, e, t in _TRANSITIONS],
        "state_timeouts": [{"state": s, "after": a, "on_timeout": t} for s, a, t in timeouts],
        # Chat retries are the user's (POST /chat/session/{id}/retry), never automatic.
        "error_recovery": {"auto_retry_count": 0, "max_retry_count": 5,
                           "on_retry_failure": "manual_only"},
    }
    return WorkflowDefinition.model_validate(body)


def session_definitions() -> list[WorkflowDefinition]:
    """Both built-in definitions, for ``WorkflowService.register_builtin``."""
    return [
        _definition(PERSISTENT_WORKFLOW, "A persistent chat session (built in).",
                    _PERSISTENT_TIMEOUTS),
        _definition(BACKGROUND_WORKFLOW,
                    "A background chat session that closes after its timeouts (built in).",
                    _BACKGROUND_TIMEOUTS),
    ]


def workflow_for(session_type: str) -> str:
    """The definition a session of ``session_type`` runs."""
    return BACKGROUND_WORKFLOW if session_type == "background" else PERSISTENT_WORKFLOW
