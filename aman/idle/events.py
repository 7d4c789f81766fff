"""The ``idle:*`` event types and sources; kept light so boot can declare them cheaply."""

from __future__ import annotations

from aman.events.types import EventTable

#: A run began: its message is stored and the reply is being generated.
RUN_STARTED = "idle:run_started"
#: A run's reply finished (or failed, or was stopped).
RUN_FINISHED = "idle:run_finished"
#: The scheduler's run could not start (no usable agent, a refused message, ...).
RUN_FAILED = "idle:run_failed"
#: The scheduler was due but did not run: ``reason`` quiet_hours, rate_limited or no_skill.
SKIPPED = "idle:skipped"
#: User activity cancelled the pending scheduled run; the wait starts again.
CANCELLED = "idle:cancelled"
#: Every type idle runs emit, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (RUN_STARTED, "An idle run began: its message is stored and the reply is being generated."),
    (RUN_FINISHED, "An idle run's reply finished (or failed, or was stopped)."),
    (RUN_FAILED, "The scheduler's idle run could not start."),
    (SKIPPED, "The idle scheduler was due but did not run (quiet hours, rate limit, no skill)."),
    (CANCELLED, "User activity cancelled the pending idle run; the wait starts again."),
)

#: Event sources: a run asked for over HTTP, and the idle scheduler.
MANUAL_SOURCE = "idle:manual"
SCHEDULER_SOURCE = "idle:scheduler"
#: The ``sender`` of idle-run chat messages, so the scheduler does not take its own runs for
#: user activity.
IDLE_OPERATOR = "idle"
