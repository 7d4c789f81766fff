"""Skill, its two file formats (SKILL.md frontmatter, YAML event skill) and the trigger spec.

Pydantic models validate what is on disk; ``Skill`` is the frozen result the registry serves.
What the store keeps about skills (versions, the search index) and its port close the module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aman.events.filters import EventFilter, payload_matches
from aman.events.model import Event, Priority

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: Peer runtimes' blocks under ``metadata`` that may hold a JSON object written as a string.
VENDOR_KEYS = ("openclaw", "clawdbot", "clawdis", "nanobot", "hermes", "aman")

SkillKind = Literal["markdown", "event"]
SkillStatus = Literal["ok", "error"]
#: The longest description the common skill format allows; a longer one still loads, with a
#: warning, and the prompt index shows it cut to this length.
DESCRIPTION_LIMIT = 1024


def _as_version(value: Any) -> Any:
    # YAML reads ``version: 1.0`` as a float; a version is a string.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _decode_json_blocks(metadata: Any) -> Any:
    """``metadata`` (or its vendor blocks) may be JSON written inside YAML: accept both."""
    if isinstance(metadata, str) and metadata.strip().startswith("{"):
        metadata = json.loads(metadata)
    if not isinstance(metadata, dict):
        return metadata
    decoded = dict(metadata)
    for key, value in metadata.items():
        if isinstance(value, str) and value.strip().startswith(("{", "[")):
            decoded[key] = json.loads(value)
    return decoded


class MarkdownSkillSpec(BaseModel):
    """Frontmatter of ``<name>/SKILL.md``: the union of Agent Skills, OpenClaw and nanobot keys."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=1)
    version: str | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    triggers: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_invocable: bool = Field(True, alias="user-invocable")
    disable_model_invocation: bool = Field(False, alias="disable-model-invocation")
    #: Prompts an idle run picks from (skills tagged ``idle_run``;).
    idle_prompts: list[str] = Field(default_factory=list)

    _version = field_validator("version", mode="before")(_as_version)

    @field_validator("metadata", mode="before")
    @classmethod
    def _json_metadata(cls, value: Any) -> Any:
        if value is None:
            return {}
        try:
            return _decode_json_blocks(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"metadata holds invalid JSON: {exc}") from exc


class TriggerSpec(BaseModel):
    """Which events fire an event skill. Empty lists mean any; ``*`` globs in types and sources."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    priorities: list[Priority] = Field(default_factory=list)
    payload: dict[str, Any] | None = None
    #: Peer compatibility: false means any one non-empty criterion is enough.
    match_all: bool = True

    def matches(self, event: Event) -> bool:
        """Whether ``event`` fires this trigger."""
        checks = []
        if self.event_types:
            checks.append(_glob_any(self.event_types, event.event_type))
        if self.sources:
            checks.append(_glob_any(self.sources, event.source))
        if self.priorities:
            checks.append(event.priority in self.priorities)
        if self.payload is not None:
            checks.append(payload_glob_matches(self.payload, event.payload))
        if not checks:
            return True
        return all(checks) if self.match_all else any(checks)


def payload_glob_matches(expected: Any, actual: Any) -> bool:
    """Subset match like the bus's, where an expected string with ``*`` or ``?`` is a glob."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and payload_glob_matches(value, actual[key])
            for key, value in expected.items())
    if isinstance(expected, str) and ("*" in expected or "?" in expected):
        return isinstance(actual, str) and fnmatchcase(actual, expected)
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(payload_glob_matches(e, a) for e, a in zip(expected, actual, strict=True)))
    return payload_matches(expected, actual)


def _glob_any(patterns: list[str], value: str) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


class EmitAction(BaseModel):
    """Publish an event; string values may use ``{{ payload.x }}`` / ``{{ event.source }}``."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority | None = None


class WorkflowAction(BaseModel):
    """Start an instance of workflow ``name`` with ``input`` as its data, or, with ``instance``,
    send event ``event`` (default: ``name``) to that instance with ``input`` as the payload."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    instance: str | None = None
    event: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)


class ToolAction(BaseModel):
    """Call a registered tool (declared in the format; not run by event skills yet)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class ActionSpec(BaseModel):
    """Exactly one of ``emit``, ``workflow`` or ``tool``."""

    model_config = ConfigDict(extra="forbid")

    emit: EmitAction | None = None
    workflow: WorkflowAction | None = None
    tool: ToolAction | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionSpec:
        given = [k for k in ("emit", "workflow", "tool") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("an action has exactly one of emit, workflow or tool")
        return self

    @property
    def kind(self) -> str:
        """emit, workflow or tool."""
        return "emit" if self.emit else "workflow" if self.workflow else "tool"


class LimitedConcurrency(BaseModel):
    """At most ``limited`` runs at once."""

    model_config = ConfigDict(extra="forbid")

    limited: int = Field(ge=1, le=1000)


class EventSkillSpec(BaseModel):
    """A ``*.yaml`` / ``*.yml`` event skill."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    version: str | None = None
    description: str = ""
    triggers: list[TriggerSpec] = Field(default_factory=list)
    concurrency: Literal["serial", "parallel"] | LimitedConcurrency = "serial"
    tags: list[str] = Field(default_factory=list)
    actions: list[ActionSpec] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    idle_prompts: list[str] = Field(default_factory=list)

    _version = field_validator("version", mode="before")(_as_version)

    def matches(self, event: Event) -> bool:
        """Whether any trigger fires on ``event`` (no triggers: never)."""
        return any(trigger.matches(event) for trigger in self.triggers)

    def coarse_filter(self) -> EventFilter:
        """A bus filter letting through at least every event some trigger fires on."""
        def union(attr: str) -> frozenset[Any] | None:
            if any(not t.match_all or not getattr(t, attr) for t in self.triggers):
                return None
            return frozenset(v for t in self.triggers for v in getattr(t, attr))

        return EventFilter(event_types=union("event_types"), sources=union("sources"),
                           priorities=union("priorities"))

    def emitted_types(self) -> list[str]:
        """Event types the ``emit`` actions publish."""
        return sorted({a.emit.event_type for a in self.actions if a.emit is not None})


@dataclass(frozen=True)
class SkillError:
    """Why a file did not load: the file, the 1-based line (when known) and the reason."""

    file: str
    line: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class Skill:
    """One skill as loaded from one file (valid or not)."""

    name: str
    kind: SkillKind
    path: Path
    root: Path
    content: str
    content_hash: str
    status: SkillStatus = "ok"
    error: SkillError | None = None
    description: str = ""
    version: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    keywords: tuple[str, ...] = ()  # SKILL.md triggers (LLM-visible)
    user_invocable: bool = True
    disable_model_invocation: bool = False
    event_spec: EventSkillSpec | None = None
    shadowed: tuple[str, ...] = ()
    idle_prompts: tuple[str, ...] = ()  # what an idle run asks for ({agent_id} substituted)
    warnings: tuple[str, ...] = ()  # loaded, but something is off (a too long description)

    @property
    def ok(self) -> bool:
        """Parsed and validated."""
        return self.status == "ok"

    @property
    def triggers(self) -> list[Any]:
        """Keyword strings (markdown) or trigger objects (event)."""
        if self.event_spec is not None:
            return [t.model_dump(mode="json", exclude_defaults=True)
                    for t in self.event_spec.triggers]
        return list(self.keywords)

    def summary(self, *, enabled: bool) -> dict[str, Any]:
        """An item of ``GET /skills``."""
        item: dict[str, Any] = {
            "name": self.name, "version": self.version, "description": self.description,
            "enabled": enabled, "status": self.status, "kind": self.kind,
            "triggers": self.triggers, "path": str(self.path), "category": self.category,
            "tags": list(self.tags), "hash": self.content_hash,
        }
        if self.event_spec is not None:
            concurrency = self.event_spec.concurrency
            item["concurrency"] = (concurrency if isinstance(concurrency, str)
                                   else concurrency.model_dump())
        if self.error is not None:
            item["error"] = self.error.to_json()
        if self.shadowed:
            item["shadowed"] = list(self.shadowed)
        if self.warnings:
            item["warnings"] = list(self.warnings)
        return item

    def snapshot(self, *, enabled: bool) -> dict[str, Any]:
        """``GET /skill/{name}``: the summary plus metadata, body and invocation flags."""
        item = self.summary(enabled=enabled)
        item.update({"metadata": self.metadata, "body": self.body,
                     "user_invocable": self.user_invocable,
                     "disable_model_invocation": self.disable_model_invocation})
        if self.idle_prompts:
            item["idle_prompts"] = list(self.idle_prompts)
        if self.event_spec is not None:
            item["actions"] = [a.model_dump(mode="json", exclude_none=True)
                               for a in self.event_spec.actions]
        return item

    @property
    def llm_visible(self) -> bool:
        """Listed for the model: a valid markdown skill with model invocation on (its name and
        description are what the model chooses by; keyword triggers are an optional extra)."""
        return self.ok and self.kind == "markdown" and not self.disable_model_invocation

    def index_entry(self) -> dict[str, Any]:
        """What the model's skills index shows: name, description, category, triggers, path."""
        return {"name": self.name, "description": self.description, "category": self.category,
                "triggers": list(self.keywords), "path": str(self.path)}


def description_warnings(description: str) -> tuple[str, ...]:
    """A warning when ``description`` is longer than the common format allows."""
    if len(description) <= DESCRIPTION_LIMIT:
        return ()
    return (f"description: {len(description)} characters, over the {DESCRIPTION_LIMIT} the "
            f"skill format allows; the model's skills index shows the first {DESCRIPTION_LIMIT}",)


@dataclass(frozen=True)
class SkillVersionRow:
    """One distinct content of a skill."""

    name: str
    hash: str
    version: str | None
    path: str
    first_seen: int
    last_seen: int
    content: str

    def to_json(self, *, current: bool) -> dict[str, Any]:
        """Wire shape (without the content)."""
        return {"hash": self.hash, "version": self.version, "path": self.path,
                "first_seen": self.first_seen, "seen_at": self.last_seen, "current": current}


@dataclass(frozen=True)
class IndexEntry:
    """What the search index holds for one skill."""

    name: str
    description: str
    tags: str
    body: str


class SkillRepository(Protocol):
    """Storage port for skills: the operator's on/off switch, content history and search."""

    async def disabled(self) -> set[str]:
        """Names switched off by an operator."""
        ...

    async def set_enabled(self, name: str, enabled: bool, now_ms: int) -> None:
        """Persist the switch."""
        ...

    async def latest_hashes(self) -> dict[str, str]:
        """The most recently seen content hash of every skill."""
        ...

    async def record_versions(self, rows: list[tuple[str, str, str | None, str, str]],
                              now_ms: int) -> None:
        """Note ``(name, hash, version, path, content)`` as seen now (new or come back)."""
        ...

    async def versions(self, name: str) -> list[SkillVersionRow]:
        """Every distinct content of ``name``, most recently seen first."""
        ...

    async def reindex(self, entries: list[IndexEntry], *, only: list[str] | None = None) -> None:
        """Replace the whole search index, or just the rows of the names in ``only``."""
        ...

    async def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Best matches first: ``{name, score, snippet}``; a larger score is a better match and
        any word of ``text`` may match, as a prefix, in name, description, tags or body."""
        ...
