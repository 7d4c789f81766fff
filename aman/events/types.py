"""Known event types: built-in ones, those registered by components, and those seen on the bus."""

from __future__ import annotations

from collections.abc import Iterable

# Built-in types: the names clients of the HTTP contract already know.
FILE_CREATED = "file_created"
FILE_CHANGED = "file_changed"
FILE_DELETED = "file_deleted"
TIMER_TICK = "timer_tick"
HEARTBEAT = "heartbeat"
MESSAGE_RECEIVED = "message_received"
WEBHOOK_RECEIVED = "webhook_received"

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

BUILTIN_TYPES: tuple[str, ...] = (
    FILE_CREATED,
    FILE_CHANGED,
    FILE_DELETED,
    "cron_tick",
    TIMER_TICK,
    HEARTBEAT,
    MESSAGE_RECEIVED,
    WEBHOOK_RECEIVED,
    "system_signal",
    "workflow_state_changed",
    "skill_loaded",
    "skill_reloaded",
    "config_changed",
    "secret_rotated",
    "injection_detected",
    "idle",
    "system.queue_drained",
    HANDLER_FAILED,
    BACKPRESSURE_CHANGED,
    DLQ_PARKED,
    DLQ_EXPIRY_WARNING,
    DLQ_ARCHIVED,
    PLUGIN_STATE_CHANGED,
)


class EventTypeRegistry:
    """Which event types exist, and who declared each."""

    def __init__(self) -> None:
        self._declared: dict[str, str] = {name: "core" for name in BUILTIN_TYPES}
        self._seen: set[str] = set()

    def register(self, event_type: str, owner: str) -> None:
        """Declare a type on behalf of ``owner`` (a skill, workflow or plugin)."""
        self._declared.setdefault(event_type, owner)

    def unregister_owner(self, owner: str) -> None:
        """Forget every type declared by ``owner``."""
        for name in [n for n, o in self._declared.items() if o == owner]:
            del self._declared[name]

    def seen(self, event_type: str) -> None:
        """Note a type that went through the bus."""
        self._seen.add(event_type)

    def seen_many(self, event_types: Iterable[str]) -> None:
        """Note types found in storage at boot."""
        self._seen.update(event_types)

    def listing(self) -> list[dict[str, str]]:
        """Every known type with where it comes from, sorted by name."""
        entries = {name: {"event_type": name, "owner": owner,
                          "origin": "builtin" if owner == "core" else "registered"}
                   for name, owner in self._declared.items()}
        for name in self._seen - set(entries):
            entries[name] = {"event_type": name, "owner": "", "origin": "seen"}
        return [entries[name] for name in sorted(entries)]
