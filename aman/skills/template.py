"""A tiny safe template: ``{{ payload.a.b }}``, ``{{ event.source }}``; dotted lookups, no eval.

A string that is exactly one placeholder keeps the value's type (a number stays a number);
placeholders inside longer strings are substituted as text. A missing path renders as empty.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aman.events.model import Event

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


def context_of(event: Event, **extra: Any) -> dict[str, Any]:
    """What templates may read about the triggering event."""
    return {
        "payload": event.payload,
        "event": {"id": event.id, "source": event.source, "event_type": event.event_type,
                  "type": event.event_type, "priority": event.priority.value,
                  "agent_id": event.agent_id, "trace_id": event.trace_id,
                  "timestamp": event.timestamp, "payload": event.payload},
        **extra,
    }


def lookup(context: dict[str, Any], path: str) -> Any:
    """Follow ``a.b.0.c`` through dicts and lists; None when any step is missing."""
    current: Any = context
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(template: Any, context: dict[str, Any]) -> Any:
    """Render strings found anywhere in ``template`` (dicts and lists are walked)."""
    if isinstance(template, dict):
        return {key: render(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, context) for value in template]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template.strip())
    if whole is not None:
        return lookup(context, whole.group(1))
    return _PLACEHOLDER.sub(lambda m: _text(lookup(context, m.group(1))), template)
