"""Several daemons on one PostgreSQL store: how this one is named and how death is noticed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ClusterSettings(BaseModel):
    """This daemon's place among the daemons sharing the store (used on PostgreSQL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_name: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$",
        description="This daemon's name among those sharing the store; unique per store. "
                    "Default: host name and HTTP port (host:port).")
    heartbeat_sec: float = Field(
        1.0, gt=0, le=60, description="How often this daemon refreshes its row, takes over the "
                                      "events of dead daemons and tries for free roles.")
    dead_after_sec: float = Field(
        5.0, gt=0, le=600, description="A daemon whose row is older than this, and whose lock "
                                       "connection is gone, is dead: its pending events are "
                                       "taken over.")

    @model_validator(mode="after")
    def _dead_after_beats(self) -> ClusterSettings:
        if self.dead_after_sec < 2 * self.heartbeat_sec:
            raise ValueError("cluster.dead_after_sec must be at least twice heartbeat_sec, or a "
                             "slow tick makes a live daemon look dead")
        return self
