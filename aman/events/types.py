"""Known event types: each feature's declared table, those registered at run time, and those seen.

Every feature declares the types it emits in one module-level table of ``(type, description)``
pairs (``EventTable``); the composition root registers all of them in one place
(``aman.core.event_types``). Skills, cron jobs and plugins add theirs while they run.
"""

from __future__ import annotations

from collections.abc import Iterable

#: ``(event type, what it means)`` pairs: how every feature declares the types it emits.
EventTable = tuple[tuple[str, str], ...]

# Types sources emit, with the names clients of the HTTP contract already know.
FILE_CREATED = "file_created"
FILE_CHANGED = "file_changed"
FILE_DELETED = "file_deleted"
TIMER_TICK = "timer_tick"
HEARTBEAT = "heartbeat"
MESSAGE_RECEIVED = "message_received"
CRON_TICK = "cron_tick"
WORKFLOW_STATE_CHANGED = "workflow_state_changed"
SKILL_RELOADED = "skill_reloaded"
CONFIG_CHANGED = "config_changed"

# Facts the bus and DLQ publish about themselves (source "system:bus" / "system:dlq").
HANDLER_FAILED = "bus.handler_failed"
BACKPRESSURE_CHANGED = "bus.backpressure_changed"
DLQ_PARKED = "dlq.parked"
DLQ_EXPIRY_WARNING = "dlq.expiry_warning"
DLQ_ARCHIVED = "dlq.archived"
#: A plugin was enabled, disabled, installed or uninstalled (source "plugins").
PLUGIN_STATE_CHANGED = "plugin:state_changed"

BUS_SOURCE = "system:bus"
DLQ_SOURCE = "system:dlq"
SYSTEM_SOURCES = frozenset({BUS_SOURCE, DLQ_SOURCE})

#: The core's own types (owner ``core``, origin ``builtin`` on ``GET /events/types``).
BUILTIN_TYPES: EventTable = (
    (FILE_CREATED, "A watched file appeared (sources.file_watch)."),
    (FILE_CHANGED, "A watched file was modified (sources.file_watch)."),
    (FILE_DELETED, "A watched file was removed (sources.file_watch)."),
    (CRON_TICK, "A cron job fired (the default type of a job)."),
    (TIMER_TICK, "A timer source ticked (intervals under a minute)."),
    (HEARTBEAT, "A timer source ticked (intervals of a minute or more)."),
    (MESSAGE_RECEIVED, "A user message arrived, in a chat session or on an IM channel."),
    (WORKFLOW_STATE_CHANGED, "A workflow instance moved to another state."),
    (SKILL_RELOADED, "The skill folders were loaded again; payload counts and reason."),
    (CONFIG_CHANGED, "Live settings changed (POST /config/set or /config/unset); secrets as ***."),
    (HANDLER_FAILED, "A bus subscriber failed on an event; it is retried or dead-lettered."),
    (BACKPRESSURE_CHANGED, "The bus queue crossed a backpressure level."),
    (DLQ_PARKED, "A delivery was parked in the dead-letter queue."),
    (DLQ_EXPIRY_WARNING, "A DLQ entry will be archived in 7, 3 or 1 days."),
    (DLQ_ARCHIVED, "A DLQ entry passed dlq.ttl_days and moved to the archive."),
    (PLUGIN_STATE_CHANGED, "A plugin was enabled, disabled, installed or uninstalled."),
)


class EventTypeRegistry:
    """Which event types exist, who declared each, and what it means."""

    def __init__(self) -> None:
        self._declared: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}
        self._core: set[str] = set()
        self._seen: set[str] = set()

    def declare(self, table: Iterable[tuple[str, str]], owner: str) -> None:
        """Declare a feature's table of ``(type, description)``; the core's, never withdrawn."""
        for event_type, description in table:
            self.register(event_type, owner, description)
            self._core.add(event_type)

    def register(self, event_type: str, owner: str, description: str = "") -> None:
        """Declare a type on behalf of ``owner`` (a skill, workflow or plugin); first wins."""
        if event_type not in self._declared:
            self._declared[event_type] = owner
            self._descriptions[event_type] = description

    def core_owner(self, event_type: str) -> str | None:
        """The feature that declared ``event_type`` in its table, if one did."""
        return self._declared.get(event_type) if event_type in self._core else None

    def unregister_owner(self, owner: str) -> None:
        """Forget every type declared by ``owner``."""
        for name in [n for n, o in self._declared.items() if o == owner and n not in self._core]:
            del self._declared[name]
            self._descriptions.pop(name, None)

    def seen(self, event_type: str) -> None:
        """Note a type that went through the bus."""
        self._seen.add(event_type)

    def seen_many(self, event_types: Iterable[str]) -> None:
        """Note types found in storage at boot."""
        self._seen.update(event_types)

    def listing(self) -> list[dict[str, str]]:
        """Every known type with where it comes from and what it means, sorted by name."""
        entries = {name: {"event_type": name, "owner": owner,
                          "origin": "builtin" if owner == "core" else "registered",
                          "description": self._descriptions.get(name, "")}
                   for name, owner in self._declared.items()}
        for name in self._seen - set(entries):
            entries[name] = {"event_type": name, "owner": "", "origin": "seen",
                             "description": ""}
        return [entries[name] for name in sorted(entries)]
