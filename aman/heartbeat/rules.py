"""The heartbeat's pure rules: is the checklist empty, are we in active hours, was the answer OK.

Kept apart so each rule is table-tested without a daemon.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aman.config.heartbeat import ActiveHours

#: The token a model answers when nothing needs attention.
OK_TOKEN = "HEARTBEAT_OK"
#: An answer this short (after the token is removed) is an acknowledgement, not an alert.
MAX_OK_CHARS = 300
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def checklist_is_empty(text: str) -> bool:
    """Whether the file holds nothing to act on: blank lines, Markdown headings and comments."""
    for line in _COMMENT.sub("", text).splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return False
    return True


def in_active_hours(hours: ActiveHours | None, now_ms: int) -> bool:
    """Whether ``now_ms`` falls inside the active hours (none: always)."""
    if hours is None:
        return True
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(hours.timezone))
    now = local.time().replace(tzinfo=None)
    if hours.start <= hours.end:
        return hours.start <= now < hours.end
    return now >= hours.start or now < hours.end  # spans midnight


def strip_ok(reply: str) -> str:
    """The reply without ``HEARTBEAT_OK`` at its start or end, trimmed."""
    text = reply.strip()
    if text.startswith(OK_TOKEN):
        text = text[len(OK_TOKEN):]
    if text.endswith(OK_TOKEN):
        text = text[:-len(OK_TOKEN)]
    return text.strip(" \t\r\n.:-")


def is_alert(reply: str) -> bool:
    """Whether a reply is worth delivering: more than a short acknowledgement."""
    return len(strip_ok(reply)) > MAX_OK_CHARS
