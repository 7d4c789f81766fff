"""Explore's event types, apart from the pipeline so boot can declare them without importing it."""

from __future__ import annotations

from aman.events.types import EventTable

SOURCE = "explore:pipeline"
EXPLORE_STARTED = "explore:started"
EXPLORE_FINISHED = "explore:finished"
EXPLORE_FAILED = "explore:failed"
#: Every type explore emits, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (EXPLORE_STARTED, "An explore run began reading its sources."),
    (EXPLORE_FINISHED, "An explore run ended; payload has its counts."),
    (EXPLORE_FAILED, "An explore run failed; payload names the stage."),
)
