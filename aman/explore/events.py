"""Explore's event types, apart from the pipeline so boot can declare them without importing it."""

from __future__ import annotations

SOURCE = "explore:pipeline"
EXPLORE_STARTED = "explore:started"
EXPLORE_FINISHED = "explore:finished"
EXPLORE_FAILED = "explore:failed"
EVENT_TYPES = (EXPLORE_STARTED, EXPLORE_FINISHED, EXPLORE_FAILED)
