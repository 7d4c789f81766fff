"""The keys that can change at run time, and the override file keeping their changes.

``POST /config/set`` may change only the keys in ``LIVE_KEYS``; every other key needs an edit of
the config file and a restart. Accepted changes go to ``<runtime.dir>/config.override.yaml``,
which ``load_settings`` merges between the YAML file and the ``AMAN_*`` environment, so they
survive a restart while an explicit environment variable still wins. The file may only hold live
keys: anything else in it is a startup error naming the file and the key.

This module imports nothing from ``aman.config.settings`` (which imports it), only the error tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from aman.errors import ConfigError
from aman.files import write_atomically

#: The file's name inside ``runtime.dir``.
OVERRIDE_FILE_NAME = "config.override.yaml"

#: Every key that can change at run time, with how the change takes effect. ``*`` stands for one
#: segment (``channels.<platform>.<instance>.<key>``). The appliers that make each one take effect
#: are wired by the composition root (``aman.core.runtime``); ``aman.config.changes`` refuses a key
#: without one, so this table and the appliers cannot drift apart silently.
LIVE_KEYS: dict[str, str] = {
    "event_bus.max_queue_size": "queue capacity; the backpressure level is recomputed at once",
    "event_bus.rate_limit_per_sec": "per-source token buckets refill at the new rate at once",
    "event_bus.rate_limit_burst": "per-source bucket size, at once",
    "event_bus.max_retries": "retry budget of events published from now on",
    "event_bus.retry_backoff_ms": "delays of retries scheduled from now on",
    "event_bus.handler_timeout_sec": "handler calls started from now on",
    "event_bus.retention_days": "the next pruning run",
    "event_bus.retention_max_events": "the next pruning run",
    "runtime.drain_timeout_sec": "the next shutdown",
    "runtime.log_level": "aman's loggers, at once",
    "dlq.ttl_days": "entries parked from now on",
    "dlq.max_manual_retries": "the next manual retry",
    "stream.heartbeat_sec": "stream connections opened from now on",
    "stream.snapshot_interval_sec": "stream connections opened from now on",
    "notifications.max_stored": "the next stored notification",
    "skills.debounce_ms": "the skill folder watch restarts with it at once",
    "info_hub.sources": "the next POST /explore/start",
    "info_hub.min_score": "the next POST /explore/start",
    "info_hub.max_items": "the next POST /explore/start",
    "info_hub.fetch_timeout_sec": "the next POST /explore/start",
    "channels.*.*.enabled": "the instance is rebuilt at once (as by its reload route)",
    "channels.*.*.secret": "the instance is rebuilt at once (as by its reload route)",
    "channels.*.*.allowed_chats": "the instance is rebuilt at once (as by its reload route)",
    "channels.*.*.agent_id": "the instance is rebuilt at once (as by its reload route)",
    "channels.*.*.chat": ("the next inbound message (conversations already bound keep their "
                          "session)"),
    "channels.*.*.bot_token": "the next reply sent; a polling instance restarts at once",
    "channels.*.*.api_base": "the next reply sent; a polling or socket instance restarts at once",
    "channels.*.*.mode": "the instance restarts its intake (webhook, poll or socket) at once",
    "channels.*.*.app_token": "a socket instance reconnects with it at once",
    "channels.*.*.poll_timeout_sec": "a polling instance restarts with it at once",
    "channels.*.*.reply_url": "the next reply sent",
    "channels.*.*.send_timeout_sec": "the next reply sent",
    "mcp.servers": ("servers added connect, removed ones stop, changed ones reconnect, at once "
                    "(the whole map is replaced)"),
    "mcp.servers.*": "this server reconnects with its new settings at once",
    "mcp.servers.*.enabled": "the server connects, or stops and its tools are withdrawn, at once",
}

_HEADER = (
    "# Written by POST /config/set: live configuration changes that survive a restart.\n"
    "# Loaded between the config file and AMAN_* environment variables; only live keys\n"
    "# (docs/configuration.md, 'Live changes') are allowed here. Edit the config file for others.\n"
)


def live_pattern(key: str) -> str | None:
    """The ``LIVE_KEYS`` entry ``key`` matches, or None when it needs a restart."""
    parts = key.split(".")
    for pattern in LIVE_KEYS:
        wanted = pattern.split(".")
        if len(wanted) != len(parts):
            continue
        if all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
            return pattern
    return None


def flatten(nested: Mapping[str, Any], prefix: str = "",
            whole: Callable[[str], bool] = lambda _key: False) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists, scalars and ``whole`` keys are leaves."""
    flat: dict[str, Any] = {}
    for name, value in nested.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and value and not whole(key):
            flat.update(flatten(value, f"{key}.", whole))
        else:
            flat[key] = value
    return flat


def is_whole(key: str) -> bool:
    """Whether ``key`` is live as a whole mapping (``mcp.servers``, a channel's ``chat``): its
    stored value replaces what the file says instead of merging into it."""
    pattern = live_pattern(key)
    return pattern is not None and pattern in _WHOLE


#: Live keys whose value is a mapping set as a whole.
_WHOLE = frozenset({"mcp.servers", "mcp.servers.*", "channels.*.*.chat"})


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def read_override(path: Path) -> dict[str, Any]:
    """The override file as flat ``{dotted key: value}``; {} when absent.

    Raises ``ConfigError`` naming the file (and the line, or the key) when it is not valid YAML,
    is not a mapping, or holds a key that cannot change at run time.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"override file {path} cannot be read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"override file {path} is not valid YAML{where}",
            hint=f"Fix or delete {path} (it holds changes made by POST /config/set), "
            "then start again.",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"override file {path} must hold a mapping of sections",
                          hint=f"Fix or delete {path}, then start again.")
    flat = flatten(data, whole=is_whole)
    wrong = sorted(key for key in flat if live_pattern(key) is None)
    if wrong:
        raise ConfigError(
            f"override file {path} holds key(s) that cannot change at run time: {', '.join(wrong)}",
            hint=f"Move them to the config file and remove them from {path}; live keys are "
            "listed in docs/configuration.md ('Live changes') and by GET /config/live-keys.",
        )
    return flat


def read_override_layer(
    layers: Sequence[Mapping[str, Any]], default_dir: Callable[[], Path]
) -> tuple[Path | None, dict[str, Any]]:
    """The override file of the runtime dir the highest of ``layers`` names, and its content.

    ``load_settings`` knows ``runtime.dir`` only from the file, environment and flag layers (or
    the default), so it asks here before merging the override between the file and the
    environment. An unusable ``runtime.dir`` gives no override; full validation then names it.
    """
    raw = next((layer["runtime"]["dir"] for layer in reversed(layers)
                if isinstance(layer.get("runtime"), Mapping) and layer["runtime"].get("dir")), None)
    if raw is not None and not isinstance(raw, (str, Path)):
        return None, {}
    path = (default_dir() if raw is None else Path(raw).expanduser()) / OVERRIDE_FILE_NAME
    return path, read_override(path)


def override_note(errors: Sequence[Mapping[str, Any]], live: Mapping[str, Any],
                  path: Path | None) -> str:
    """A hint to append to a validation message when a bad value came from the override file."""
    if any(".".join(map(str, error["loc"])) in live for error in errors):
        return f" (live changes come from {path}, written by POST /config/set)"
    return ""


def write_override(path: Path, flat: Mapping[str, Any]) -> None:
    """Replace the override file with ``flat`` (nested YAML) atomically: temp, fsync, rename.

    Mode 0600: a channel secret set at run time may be in it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    body = _HEADER + yaml.safe_dump(nest(dict(sorted(flat.items()))), sort_keys=True,
                                    default_flow_style=False, allow_unicode=True)
    write_atomically(path, body, mode=0o600)
