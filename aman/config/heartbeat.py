"""An agent's heartbeat: how often it checks in on its own, when, and where an alert goes.

Off unless ``every`` is set: a heartbeat spends tokens while nobody watches, so it is opt-in.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

_EVERY = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, None: 60}
#: Shortest interval: a heartbeat is a check-in, not a poll loop.
MIN_EVERY_SEC = 60


def parse_every(value: str | int | None) -> int:
    """Seconds between ticks from ``30m``, ``2h``, ``90s``, ``1d`` (a bare number: minutes);
    0 means off."""
    if value is None:
        return 0
    match = _EVERY.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not an interval; write 30m, 2h or 0 (off)")
    seconds = int(match[1]) * _UNITS[match[2]]
    if 0 < seconds < MIN_EVERY_SEC:
        raise ValueError(f"{value!r} is shorter than {MIN_EVERY_SEC} s; use at least 1m")
    return seconds


class ActiveHours(BaseModel):
    """The local hours in which ticks run (``end`` before ``start`` spans midnight)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = Field(description="HH:MM local time the heartbeat starts running.")
    end: time = Field(description="HH:MM local time it stops.")
    timezone: str = Field("UTC", description="IANA zone of start and end.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                             "Europe/Berlin") from None
        return value


class ChannelTarget(BaseModel):
    """A channel instance and chat to post alerts to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str = Field(pattern=r"^[a-z]+\.[A-Za-z0-9_-]+$",
                         description="<platform>.<instance>, e.g. telegram.mybot.")
    chat: str = Field(min_length=1, description="The chat id on that platform.")
    thread: str | None = None


class HeartbeatSettings(BaseModel):
    """``agents.<id>.heartbeat``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: str | int | None = Field(None, description="30m, 2h, ...; 0 or absent: off.")
    active_hours: ActiveHours | None = Field(None, description="Run only in these hours.")
    target: Literal["none", "last"] | ChannelTarget = Field(
        "last", description="none, last (the chat the person last wrote from), or a chat.")
    prompt: str | None = Field(None, max_length=4000,
                               description="What the agent is asked; default: check the file.")
    model: str | None = Field(None, max_length=200,
                              description="Model for heartbeat turns; default: the agent's.")
    file: str = Field("HEARTBEAT.md", min_length=1,
                      description="The checklist, relative to the tools workspace.")
    keep_exchanges: int = Field(3, ge=1, le=50,
                                description="Exchanges the heartbeat session keeps.")

    @field_validator("every")
    @classmethod
    def _valid_every(cls, value: str | int | None) -> str | int | None:
        parse_every(value)
        return value

    @property
    def every_sec(self) -> int:
        """Seconds between ticks; 0 when off."""
        return parse_every(self.every)
