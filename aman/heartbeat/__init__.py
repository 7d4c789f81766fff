"""The heartbeat: an agent that checks in on its own, stays quiet when all is well, says why."""
