"""Readiness guard: routes that need the runtime answer 503 ``not_ready`` until phase 5."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aman.core.phases import RuntimeState
from aman.errors import NotReadyError
from aman.http.policy import RoutePolicy

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

#: Booting takes about a second; a stopped runtime needs an operator, so ask for a longer wait.
_RETRY_AFTER_BOOTING_SEC = 1.0
_RETRY_AFTER_STOPPED_SEC = 5.0


def check(runtime: Runtime, policy: RoutePolicy) -> None:
    """Raise ``NotReadyError`` (with Retry-After) if the route needs a ready runtime."""
    if not policy.needs_runtime or runtime.ready:
        return
    state = runtime.state
    waiting = state in (RuntimeState.STARTING, RuntimeState.READY)
    raise NotReadyError(
        f"the runtime is {state.value} (phase {int(runtime.phases.phase)}, "
        f"{runtime.phases.phase.label}); this route needs it ready",
        retry_after=_RETRY_AFTER_BOOTING_SEC if waiting else _RETRY_AFTER_STOPPED_SEC,
        details={"phase": int(runtime.phases.phase), "state": state.value},
    )
