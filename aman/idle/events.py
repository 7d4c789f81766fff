"""The ``idle:*`` event types and sources; kept import-free so boot can register them cheaply."""

from __future__ import annotations

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
EVENT_TYPES = (RUN_STARTED, RUN_FINISHED, RUN_FAILED, SKIPPED, CANCELLED)

#: Event sources: a run asked for over HTTP, and the idle scheduler.
MANUAL_SOURCE = "idle:manual"
SCHEDULER_SOURCE = "idle:scheduler"
#: The ``sender`` of idle-run chat messages, so the scheduler does not take its own runs for
#: user activity.
IDLE_OPERATOR = "idle"
