"""An agent's long-term memory: its limits, what it imports from other runtimes, who may see it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The tool that writes memory files (``aman.memory.tools``); ``write_approval`` raises its level.
WRITE_TOOL = "memory"


class MemoryLimits(BaseModel):
    """Most characters each memory file may hold (entries are never cut to fit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    memory: int = Field(4000, ge=100, le=200_000, description="MEMORY.md: what the agent keeps.")
    user: int = Field(2000, ge=100, le=200_000, description="USER.md: about its person.")


class MemorySettings(BaseModel):
    """``agents.<id>.memory``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    enabled: bool = Field(True, description="Load memory into prompts and offer the tools.")
    max_chars: MemoryLimits = Field(default_factory=MemoryLimits)
    imports: list[Path] = Field(default_factory=list, alias="import",
                                description="Other runtimes' workspaces or memory folders, "
                                            "read (never written) and searched.")
    share_with: list[str] = Field(default_factory=list,
                                  description="IM chats besides the owner's that see memory: "
                                              "<platform>.<instance>:<chat id>.")
    write_approval: bool = Field(False, description="Every memory write asks for approval.")

    def tool_sensitivity(self) -> dict[str, Literal["high"]]:
        """Levels these settings impose on tools: with ``write_approval`` every write asks."""
        return {WRITE_TOOL: "high"} if self.write_approval else {}
