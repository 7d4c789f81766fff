"""Event sources: the contract every producer of events keeps, and the registry of them.

A source publishes through a ``publish`` callable it is given (the bus's), so sources need no bus
and no HTTP. Sources start last in boot phase 4 and stop first at shutdown. A source
that fails, or whose events the bus refuses, reports it in ``health()``; it never takes the
daemon or its sibling sources down with it. The built-ins share ``aman.sources.base.BaseSource``.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from aman.errors import ConflictError, NotFoundError, ValidationFailedError
from aman.events.model import Event
from aman.events.subscribers import PublishResult

log = logging.getLogger(__name__)

#: What a source is given to emit with: the bus's publish.
Publish = Callable[[Event], Awaitable[PublishResult]]


class SourceState(enum.Enum):
    """Where a source is in its life; the wire name is the value."""

    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"
    # Sources that hold a connection to a platform (IM polling, sockets) say where it stands.
    CONNECTING = "connecting"
    POLLING = "polling"
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"


class HealthStatus(enum.Enum):
    """A source's health verdict."""

    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


@runtime_checkable
class EventSource(Protocol):
    """What the registry and the routes need from any source, built-in or from a plugin."""

    @property
    def id(self) -> str:
        """Unique among sources; the routes address the source by it."""
        ...

    @property
    def type(self) -> str:
        """The kind of source, e.g. ``timer`` or ``file_watch``."""
        ...

    @property
    def state(self) -> SourceState:
        """Stopped, running, paused or failed."""
        ...

    @property
    def config(self) -> dict[str, Any]:
        """The configuration in force, as JSON."""
        ...

    async def start(self) -> None:
        """Begin producing events; raise if the source cannot run."""
        ...

    async def stop(self) -> None:
        """Stop producing events and release what the source holds; idempotent."""
        ...

    async def pause(self) -> None:
        """Emit nothing until resumed; idempotent."""
        ...

    async def resume(self) -> None:
        """Emit again after a pause; idempotent."""
        ...

    async def configure(self, config: dict[str, Any]) -> None:
        """Apply ``config`` (merged over the current one); raise ``ValidationFailedError`` naming
        the field, with nothing changed, when it is invalid."""
        ...

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded"|"failed", "detail": str, ...}``."""
        ...


class SourceConfig(BaseModel):
    """Base of each source type's configuration model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


def parse_config(model: type[SourceConfig], data: Any, current: SourceConfig | None = None) -> Any:
    """Validate ``data`` merged over ``current``; ``ValidationFailedError`` names each bad field."""
    if not isinstance(data, dict):
        raise ValidationFailedError(
            f"config must be a JSON object, not {type(data).__name__}",
            hint="Send an object of the fields to change, e.g. {\"interval_ms\": 5000}.",
        )
    merged = {**(current.model_dump(mode="json") if current is not None else {}), **data}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        fields = []
        for error in exc.errors():
            path = ".".join(["config", *(str(part) for part in error["loc"])])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"is not a known field (known: {', '.join(sorted(model.model_fields))})"
            fields.append({"path": path, "message": message, "type": error["type"]})
        summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields)
        raise ValidationFailedError(f"invalid config: {summary}",
                                    details={"fields": fields}) from None


class SourceRegistry:
    """Sources by id: start in registration order, stop in reverse, each within a timeout."""

    def __init__(self, *, timeout_sec: float = 5.0) -> None:
        self._sources: dict[str, EventSource] = {}
        self._start_failures: dict[str, str] = {}
        self._timeout = timeout_sec

    def register(self, source: EventSource) -> None:
        """Add ``source``; ids are unique."""
        if source.id in self._sources:
            raise ConflictError(f"an event source with id {source.id!r} is already registered",
                                hint="Give each source in sources.* a distinct id.")
        self._sources[source.id] = source

    def unregister(self, source_id: str) -> EventSource:
        """Remove and return a source (stop it first)."""
        source = self.get(source_id)
        del self._sources[source_id]
        self._start_failures.pop(source_id, None)
        return source

    def get(self, source_id: str) -> EventSource:
        """The source with ``source_id``; 404 if there is none."""
        source = self._sources.get(source_id)
        if source is None:
            raise NotFoundError(f"no event source {source_id!r}",
                                hint="GET /event-sources lists them.")
        return source

    def list(self) -> list[EventSource]:
        """Every source in registration order."""
        return list(self._sources.values())

    def describe(self, source_id: str) -> dict[str, Any]:
        """``{id, type, state, health, config}`` of one source, as the routes serve it."""
        source = self.get(source_id)
        state, health = source.state, source.health()
        failure = self._start_failures.get(source_id)
        if failure is not None and state in (SourceState.STOPPED, SourceState.FAILED):
            state = SourceState.FAILED
            health = {**health, "status": HealthStatus.FAILED.value,
                      "detail": f"failed to start: {failure}"}
        elif failure is not None:  # started since (a configure fixed it)
            del self._start_failures[source_id]
        return {"id": source.id, "type": source.type, "state": state.value, "health": health,
                "config": source.config}

    def describe_all(self) -> builtins.list[dict[str, Any]]:
        """``describe`` of every source."""
        return [self.describe(source_id) for source_id in self._sources]

    async def pause(self, source_id: str) -> dict[str, Any]:
        """Pause one source; idempotent."""
        await self.get(source_id).pause()
        return self.describe(source_id)

    async def resume(self, source_id: str) -> dict[str, Any]:
        """Resume one source; idempotent."""
        await self.get(source_id).resume()
        return self.describe(source_id)

    async def configure(self, source_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Reconfigure one source; ``ValidationFailedError`` naming the field on bad config."""
        await self.get(source_id).configure(config)
        return self.describe(source_id)

    async def start_all(self) -> None:
        """Start every source in order; one that fails is marked failed and the rest go on."""
        for source in self.list():
            try:
                await asyncio.wait_for(source.start(), timeout=self._timeout)
            except Exception as exc:
                reason = (f"did not start within {self._timeout:g}s"
                          if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__)
                self._start_failures[source.id] = reason
                log.error("event source %s (%s) failed to start: %s", source.id, source.type,
                          reason)
            else:
                self._start_failures.pop(source.id, None)

    async def stop_all(self) -> None:
        """Stop every source in reverse order, each within the timeout; log, never raise."""
        for source in reversed(self.list()):
            try:
                await asyncio.wait_for(source.stop(), timeout=self._timeout)
            except TimeoutError:
                log.error("event source %s did not stop within %.1fs; moving on", source.id,
                          self._timeout)
            except Exception:
                log.exception("stop of event source %s failed", source.id)
