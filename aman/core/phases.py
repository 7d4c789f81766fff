"""Boot phases 0–5 and the observable state of the runtime, read by /health and /runtime/status."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class Phase(enum.IntEnum):
    """Boot phases, numbered exactly so on the wire."""

    ALIVE = 0
    CONFIGURED = 1
    STORAGE = 2
    CORE = 3
    COMPONENTS = 4
    READY = 5

    @property
    def label(self) -> str:
        """Lower-case name used in JSON."""
        return self.name.lower()


class RuntimeState(enum.Enum):
    """What the runtime as a whole is doing."""

    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class StepRecord:
    """Timing and outcome of one boot step."""

    name: str
    status: str = "pending"  # pending | running | done | failed
    duration_ms: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "name": self.name,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "error": self.error,
        }


@dataclass
class PhaseRecord:
    """Timing and outcome of one phase."""

    phase: Phase
    status: str = "pending"  # pending | running | done | failed
    started_at_ms: int | None = None
    duration_ms: float | None = None
    steps: list[StepRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "phase": int(self.phase),
            "name": self.phase.label,
            "status": self.status,
            "started_at_ms": self.started_at_ms,
            "duration_ms": self.duration_ms,
            "steps": [step.to_json() for step in self.steps],
        }


@dataclass(frozen=True)
class BootFailure:
    """Which step failed in which phase, and why."""

    phase: Phase
    step: str
    error: str
    code: str

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "phase": int(self.phase),
            "phase_name": self.phase.label,
            "step": self.step,
            "error": self.error,
            "code": self.code,
        }


class PhaseState:
    """The single source of truth for phase, state, timings and failure."""

    def __init__(self) -> None:
        self.phase = Phase.ALIVE
        self.state = RuntimeState.STOPPED
        self.records: dict[Phase, PhaseRecord] = {}
        self.failure: BootFailure | None = None
        self.process_started = time.monotonic()
        self.boot_count = 0

    @property
    def ready(self) -> bool:
        """Phase 5 and not draining."""
        return self.phase is Phase.READY and self.state is RuntimeState.READY

    def begin_boot(self) -> None:
        """Reset timings for a new boot."""
        self.state = RuntimeState.STARTING
        self.phase = Phase.ALIVE
        self.failure = None
        self.records = {phase: PhaseRecord(phase) for phase in Phase}
        self.boot_count += 1

    def snapshot(self) -> dict[str, Any]:
        """Everything /runtime/status shows about phases."""
        return {
            "phase": int(self.phase),
            "phase_name": self.phase.label,
            "ready": self.ready,
            "live": True,
            "state": self.state.value,
            "phases": [record.to_json() for record in self.records.values()],
            "failure": self.failure.to_json() if self.failure else None,
            "boot_count": self.boot_count,
            "uptime_sec": round(time.monotonic() - self.process_started, 3),
        }
