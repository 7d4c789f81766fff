"""Every event type the daemon's features emit, declared in one place when the runtime is built.

Each feature keeps one table of ``(type, description)`` pairs beside its constants (``EventTable``
in ``aman.events.types``); this module lists the tables with their owners, so a feature never
declares its types in a constructor, a ``start()`` or a boot step. Types that depend on what is
loaded (a skill's ``emit``, a cron job's type, a plugin's ``register_event_types``) are registered
by their owners while they run.
"""

from __future__ import annotations

from aman.events.types import BUILTIN_TYPES, EventTable, EventTypeRegistry


def feature_tables() -> list[tuple[str, EventTable]]:
    """``(owner, table)`` for every feature, the core's contract names first."""
    from aman import agents, capabilities
    from aman.channels import outbox
    from aman.chat import sessions
    from aman.cron import model as cron
    from aman.explore import events as explore
    from aman.heartbeat import model as heartbeat
    from aman.idle import events as idle
    from aman.llm import registry as llm
    from aman.mcp import model as mcp
    from aman.memory import model as memory
    from aman.skills import runner as skills
    from aman.soul import service as soul
    from aman.tools import approvals
    from aman.tools import registry as tools
    from aman.workflows import engine as workflows

    return [
        ("core", BUILTIN_TYPES),
        ("agents", agents.EVENT_TYPES),
        ("chat", sessions.EVENT_TYPES),
        ("skills", skills.EVENT_TYPES),
        ("workflows", workflows.EVENT_TYPES),
        ("cron", cron.EVENT_TYPES),
        ("soul", soul.EVENT_TYPES),
        ("llm", llm.EVENT_TYPES),
        ("tools", tools.EVENT_TYPES),
        ("tools", approvals.EVENT_TYPES),
        ("core:channels", outbox.EVENT_TYPES),
        ("capabilities", capabilities.EVENT_TYPES),
        ("explore", explore.EVENT_TYPES),
        ("idle", idle.EVENT_TYPES),
        ("heartbeat", heartbeat.EVENT_TYPES),
        ("memory", memory.EVENT_TYPES),
        ("mcp", mcp.EVENT_TYPES),
    ]


def declared_event_types() -> EventTypeRegistry:
    """A registry holding every feature's table."""
    registry = EventTypeRegistry()
    for owner, table in feature_tables():
        registry.declare(table, owner)
    return registry
