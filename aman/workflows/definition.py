"""Workflow definitions as written in YAML, validated so an error names the field and the problem.

State and event names compare case-insensitively; after validation every state reference holds the
spelling used in ``states``. ``*`` as a transition's ``from`` means any state, and ``$last_active``
as a target means the state an instance was in before it entered the error state.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aman.events.model import Priority

ANY_STATE = "*"
LAST_ACTIVE = "$last_active"
#: Built-in guards : a name instead of a payload/data match.
BUILTIN_GUARDS = ("has_permission", "max_retry")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: str | int | float) -> int:
    """``30s``, ``2h``, ``7d``, ``250ms`` (a bare number means seconds) → milliseconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 5m, 2h or 7d")
    if isinstance(value, int | float):
        millis = round(float(value) * 1000)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 2h, 7d or 250ms")
        millis = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if millis <= 0:
        raise ValueError("must be longer than zero")
    return millis


class Backoff(BaseModel):
    """Delay before each automatic retry: ``immediate``, ``fixed:<ms>``, ``exponential`` or
    ``sequence:<ms,...>`` (the last value repeats)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["immediate", "fixed", "exponential", "sequence"]
    delays_ms: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Backoff:
        """Read the string form; raise ``ValueError`` saying which forms exist."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().lower()
        try:
            numbers = tuple(int(part) for part in rest.split(",") if part.strip()) if rest else ()
        except ValueError:
            numbers = (-1,)
        if kind == "immediate" and not rest:
            return cls(kind="immediate")
        if kind == "exponential" and not rest:
            return cls(kind="exponential")
        if kind in ("fixed", "sequence") and numbers and min(numbers) >= 0:
            if kind == "fixed" and len(numbers) != 1:
                raise ValueError("fixed takes one delay, e.g. fixed:500")
            return cls(kind="fixed" if kind == "fixed" else "sequence", delays_ms=numbers)
        raise ValueError(f"{text!r} is not a backoff; use immediate, fixed:<ms>, exponential "
                         "or sequence:<ms,ms,...>")

    def delay_ms(self, attempt: int) -> int:
        """Delay before retry number ``attempt`` (1-based)."""
        if self.kind == "immediate":
            return 0
        if self.kind == "exponential":
            doubled: int = 1000 * 2 ** (attempt - 1)  # attempt >= 1, so an int
            return min(doubled, 3_600_000)
        return self.delays_ms[min(attempt, len(self.delays_ms)) - 1]

    def __str__(self) -> str:
        if self.delays_ms:
            return f"{self.kind}:{','.join(str(d) for d in self.delays_ms)}"
        return self.kind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuardMatch(_Strict):
    """Passes when ``payload`` is a subset of the event's payload and ``data`` of the instance's."""

    payload: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class EmitSpec(_Strict):
    """Publish an event.

    Strings may use ``{{ payload.x }}``, ``{{ data.x }}``, ``{{ instance.id }}``.
    """

    event_type: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority | None = None


class ActionSpec(_Strict):
    """Exactly one of ``emit`` (publish an event) or ``skill`` (run an event skill's actions)."""

    emit: EmitSpec | None = None
    skill: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionSpec:
        if (self.emit is None) == (self.skill is None):
            raise ValueError("an action has exactly one of emit or skill")
        return self

    def describe(self) -> str:
        """A short label for traces and history."""
        return f"skill {self.skill}" if self.skill else f"emit {self.emit.event_type}"  # type: ignore[union-attr]


class TransitionSpec(_Strict):
    """On ``event`` in state ``from``, go to ``to`` (guard and action permitting)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_state: str = Field(alias="from", min_length=1)
    event: str = Field(min_length=1)
    to: str = Field(min_length=1)
    guard: str | GuardMatch | None = None
    on_fail: str | None = None
    action: ActionSpec | None = None
    on_action_failure: str | None = None

    @field_validator("guard")
    @classmethod
    def _known_guard(cls, value: str | GuardMatch | None) -> str | GuardMatch | None:
        if isinstance(value, str) and value not in BUILTIN_GUARDS:
            raise ValueError(f"unknown guard {value!r}; built-in guards: "
                             f"{', '.join(BUILTIN_GUARDS)}, or a mapping with payload/data")
        return value


class StateTimeout(_Strict):
    """Leave ``state`` for ``on_timeout`` once it was held for ``after``."""

    state: str
    after: str | int | float
    on_timeout: str

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str | int | float) -> str | int | float:
        parse_duration_ms(value)
        return value

    @property
    def after_ms(self) -> int:
        """The duration in milliseconds."""
        return parse_duration_ms(self.after)


class ErrorRecovery(_Strict):
    """What happens in the error state: automatic retries, the retry budget, and what follows it."""

    auto_retry_count: int = Field(0, ge=0, le=100)
    max_retry_count: int = Field(3, ge=0, le=1000)
    retry_backoff: str = "immediate"
    on_retry_failure: Literal["archive", "manual_only"] = "manual_only"

    @field_validator("retry_backoff")
    @classmethod
    def _backoff(cls, value: str) -> str:
        Backoff.parse(value)
        return value

    @property
    def backoff(self) -> Backoff:
        """The parsed backoff."""
        return Backoff.parse(self.retry_backoff)


class StartTrigger(_Strict):
    """Create an instance when a matching event arrives (its payload becomes the data)."""

    event: str = Field(min_length=1, description="Event type; * globs allowed.")
    source: str | None = Field(None, description="Source glob.")
    match: dict[str, Any] = Field(default_factory=dict, description="Payload subset.")


class WorkflowDefinition(_Strict):
    """One workflow as loaded from YAML; see docs/workflows.md."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    version: str | None = None
    states: list[str] = Field(min_length=1)
    initial_state: str
    final_states: list[str] = Field(default_factory=list)
    error_state: str | None = None
    transitions: list[TransitionSpec] = Field(default_factory=list)
    state_timeouts: list[StateTimeout] = Field(default_factory=list)
    error_recovery: ErrorRecovery = Field(default_factory=ErrorRecovery)
    start_on: list[StartTrigger] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 1.0` in YAML is a number; it means the text "1.0".
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else value

    @field_validator("states", mode="before")
    @classmethod
    def _state_names(cls, value: Any) -> Any:
        # States may also be written as [{name: X}] (an older form); accept both.
        if isinstance(value, list):
            return [v["name"] if isinstance(v, dict) and "name" in v else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowDefinition:
        canon: dict[str, str] = {}
        for index, state in enumerate(self.states):
            key = state.strip().lower()
            if not key or key in (ANY_STATE, LAST_ACTIVE):
                raise ValueError(f"states[{index}]: {state!r} is not a usable state name")
            if key in canon:
                raise ValueError(f"states[{index}]: state {state!r} is listed twice")
            canon[key] = state.strip()
        self.states = list(canon.values())

        def known(field: str, name: str, *, extra: tuple[str, ...] = ()) -> str:
            key = name.strip().lower()
            if key in extra:
                return key
            if key not in canon:
                raise ValueError(f"{field}: unknown state {name!r}; states are "
                                 f"{', '.join(self.states)}")
            return canon[key]

        self.initial_state = known("initial_state", self.initial_state)
        self.final_states = [known(f"final_states[{i}]", s)
                             for i, s in enumerate(self.final_states)]
        if self.error_state is not None:
            self.error_state = known("error_state", self.error_state)
            if self.error_state in self.final_states:
                raise ValueError("error_state: the error state cannot also be a final state")
        if self.initial_state in self.final_states:
            raise ValueError("initial_state: the initial state cannot be a final state")
        for i, t in enumerate(self.transitions):
            where = f"transitions[{i}]"
            t.from_state = known(f"{where}.from", t.from_state, extra=(ANY_STATE,))
            t.to = known(f"{where}.to", t.to, extra=(LAST_ACTIVE,))
            if t.to == LAST_ACTIVE and self.error_state is None:
                raise ValueError(f"{where}.to: $last_active needs an error_state")
            t.event = t.event.strip().lower()
            if t.on_fail is not None:
                t.on_fail = known(f"{where}.on_fail", t.on_fail)
                if t.guard is None:
                    raise ValueError(f"{where}.on_fail: on_fail needs a guard")
            if t.on_action_failure is not None:
                t.on_action_failure = known(f"{where}.on_action_failure", t.on_action_failure)
                if t.action is None:
                    raise ValueError(f"{where}.on_action_failure: needs an action")
        seen_timeouts: set[str] = set()
        for i, timeout in enumerate(self.state_timeouts):
            timeout.state = known(f"state_timeouts[{i}].state", timeout.state)
            timeout.on_timeout = known(f"state_timeouts[{i}].on_timeout", timeout.on_timeout)
            if timeout.state in seen_timeouts:
                raise ValueError(f"state_timeouts[{i}].state: {timeout.state!r} has two timeouts")
            seen_timeouts.add(timeout.state)
        unreachable = [s for s in self.final_states if s not in self.reachable_states()]
        if unreachable:
            raise ValueError(f"final_states: {', '.join(unreachable)} cannot be reached from "
                             f"initial state {self.initial_state!r} by any transition, timeout "
                             "or error path")
        return self

    # --- lookups used by the machine ----------------------------------------------------

    def canonical(self, name: str) -> str | None:
        """The spelling of state ``name`` in ``states``, or None when there is no such state."""
        key = name.strip().lower()
        return next((s for s in self.states if s.lower() == key), None)

    def is_final(self, state: str) -> bool:
        """Whether ``state`` ends the instance."""
        return state in self.final_states

    def timeout_for(self, state: str) -> StateTimeout | None:
        """The timeout of ``state``, if it has one."""
        return next((t for t in self.state_timeouts if t.state == state), None)

    def transitions_for(self, state: str, event: str) -> list[TransitionSpec]:
        """Transitions for ``event`` in ``state``, specific ones before ``*``."""
        key = event.strip().lower()
        specific = [t for t in self.transitions if t.event == key and t.from_state == state]
        wildcard = [t for t in self.transitions if t.event == key and t.from_state == ANY_STATE]
        return specific + wildcard

    def events(self) -> list[str]:
        """Every event name a transition listens for."""
        return sorted({t.event for t in self.transitions})

    def reachable_states(self) -> set[str]:
        """States an instance can get to from the initial state (transitions, timeouts, errors)."""
        reached = {self.initial_state}
        frontier = [self.initial_state]
        special = [self.canonical("archived"), self.canonical("cancelled")]
        while frontier:
            state = frontier.pop()
            targets: list[str | None] = []
            for t in self.transitions:
                if t.from_state in (state, ANY_STATE):
                    targets += [t.to, t.on_fail, t.on_action_failure]
                    if t.action is not None:
                        targets.append(self.error_state)
            timeout = self.timeout_for(state)
            if timeout is not None:
                targets.append(timeout.on_timeout)
            if state == self.error_state:
                targets += special
            if not self.is_final(state):
                targets.append(self.canonical("cancelled"))
            for target in targets:
                if target == LAST_ACTIVE:
                    continue  # returns somewhere already reached
                if target is not None and target not in reached:
                    reached.add(target)
                    frontier.append(target)
        return reached

    def content_hash(self) -> str:
        """A stable hash of the definition's meaning (not its formatting)."""
        body = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """Wire shape: the validated definition with canonical state names."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
