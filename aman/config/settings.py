"""Configuration: the pydantic models for the YAML file; ``aman.config.loader`` builds them.

Layers, lowest first: built-in defaults, the YAML file, ``<runtime.dir>/config.override.yaml``
(live changes), ``AMAN_<SECTION>__<KEY>`` environment variables, then CLI flags.
``${VAR}`` (or ``${VAR:-default}``) in string values is resolved from the environment at load,
in memory only. Every model is frozen and rejects unknown keys, so a typo is
a startup error naming the dotted key instead of a silently ignored setting.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from aman.config.agents import AgentSettings, ChatSettings, LlmSettings, ToolsSettings
from aman.config.auth import AuthSettings
from aman.config.budgets import BudgetSettings
from aman.config.cluster import ClusterSettings
from aman.config.reach import ChannelSettings, IdleSettings, InfoHubSettings, channel_problem
from aman.config.store import StoreSettings
from aman.cron.model import CronJobSpec, build_trigger, resolve_timezone
from aman.errors import AmanError
from aman.mcp.settings import McpSettings

#: The repository root when aman runs from a checkout (scripts/run installs it editable).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The shipped default config, used when neither --config nor AMAN_CONFIG names one.
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "aman.yaml"

#: IM platforms with an inbound webhook adapter.
CHANNEL_PLATFORMS = frozenset({"telegram", "slack", "generic"})



class _Section(BaseModel):
    """Base for every config section: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CorsSettings(_Section):
    """Browser pages on other origins that may call the API."""

    allow_origins: list[str] = Field(
        default_factory=list,
        description="Exact origins (scheme://host[:port]) whose pages may call the API.")

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            scheme, sep, rest = origin.partition("://")
            if not sep or not scheme or not rest or "/" in rest or "*" in origin or " " in origin:
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port] exactly, e.g. "
                    "tauri://localhost or http://localhost:5173 (no '*', no path)")
        return [origin.lower() for origin in value]


class HttpSettings(_Section):
    """The HTTP listener."""

    bind: str = Field("127.0.0.1:9090", description="HOST:PORT to listen on.")
    token: SecretStr = Field(
        SecretStr(""), description="API token; empty means no authentication (loopback only)."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, le=1_073_741_824, description="Largest request body accepted (bytes)."
    )
    auth_failure_limit: int = Field(
        20, ge=0, description="Refused credentials from one address in a minute before it gets "
                              "429 for auth_block_sec; 0 turns the limit off.")
    auth_block_sec: float = Field(60.0, gt=0, le=86_400,
                                  description="How long an address past the limit gets 429.")
    console_session_ttl_sec: int = Field(
        604_800, ge=60, le=31_536_000, description="Lifetime of a console sign-in cookie."
    )
    cors: CorsSettings = Field(default_factory=CorsSettings)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names requests may carry besides the bound address and localhost; "
                    "'*' turns the Host check off.")

    @field_validator("bind")
    @classmethod
    def _bind_is_host_port(cls, value: str) -> str:
        host, port = split_bind(value)
        if not host:
            raise ValueError("must be HOST:PORT with a host, e.g. 127.0.0.1:9090")
        if not 0 <= port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        return value


class RuntimeSettings(_Section):
    """The process: where state lives and how long stops may take."""

    dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("AMAN_HOME") or "~/.aman").expanduser(),
        description="Holds the SQLite database, logs, installed plugins and the lock file.",
    )
    drain_timeout_sec: float = Field(
        30.0, gt=0, le=3600, description="Longest a shutdown may take to drain and stop."
    )
    boot_phase_timeout_sec: float = Field(
        30.0, gt=0, le=3600, description="Longest one boot phase may take before boot fails."
    )
    force_enable_debug_endpoints: bool = Field(
        False, description="Enable debug endpoints such as POST /inject-event."
    )
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING or ERROR.")

    @field_validator("dir")
    @classmethod
    def _expand_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper


class EventBusSettings(_Section):
    """The event bus: queue, retries, rate limits and retention."""

    max_queue_size: int = Field(10_000, ge=1, description="Pending events before backpressure.")
    dedup_window_ms: int = Field(86_400_000, ge=0, description="How long dedup keys are kept.")
    max_retries: int = Field(3, ge=0, le=100, description="Handler retries before the DLQ.")
    retry_backoff_ms: list[int] = Field(
        default_factory=lambda: [100, 500, 2000],
        min_length=1,
        description="Delay before each retry; the last value repeats.",
    )
    handler_timeout_sec: float = Field(30.0, gt=0, description="Longest one handler call may run.")
    workers: int = Field(4, ge=1, le=64, description="Concurrent dispatch workers.")
    rate_limit_per_sec: float = Field(100.0, gt=0, description="Per-source sustained rate.")
    rate_limit_burst: int = Field(200, ge=1, description="Per-source burst.")
    retention_days: float = Field(7.0, gt=0, description="Events older than this are pruned.")
    retention_max_events: int = Field(1_000_000, ge=1000, description="Most events kept.")
    prune_interval_sec: float = Field(300.0, gt=0, description="How often pruning runs.")


class DlqSettings(_Section):
    """The dead-letter queue."""

    ttl_days: float = Field(30.0, gt=0, description="Entries older than this move to the archive.")
    max_manual_retries: int = Field(5, ge=1, description="Manual retries before 422 unrecoverable.")
    sweep_interval_sec: float = Field(3600.0, gt=0, description="How often expiry runs.")


class StreamSettings(_Section):
    """The SSE stream at /events/stream."""

    heartbeat_sec: float = Field(15.0, gt=0, description="Keep-alive comment interval.")
    snapshot_interval_sec: float = Field(2.0, gt=0,
                                         description="runtime/metrics snapshot interval.")
    client_buffer: int = Field(1000, ge=10, description="Messages buffered per slow client.")
    replay_limit: int = Field(1000, ge=0, description="Most events replayed for Last-Event-ID.")


class FileWatchSourceSettings(_Section):
    """One file-watch event source."""

    id: str = Field(min_length=1, description="Source id; events come from source file:<id>.")
    paths: list[Path] = Field(min_length=1, description="Folders or files to watch.")
    patterns: list[str] = Field(default_factory=lambda: ["*"], description="Glob patterns.")
    recursive: bool = True
    debounce_ms: int = Field(300, ge=0, le=60_000)


class TimerSourceSettings(_Section):
    """One timer event source."""

    id: str = Field(min_length=1, description="Source id; events come from source timer:<id>.")
    interval_ms: int = Field(60_000, ge=100, description="Tick interval; >= 60000 emits heartbeat.")


class SourcesSettings(_Section):
    """Built-in event sources."""

    file_watch: list[FileWatchSourceSettings] = Field(default_factory=list)
    timers: list[TimerSourceSettings] = Field(default_factory=list)

    @field_validator("file_watch", "timers")
    @classmethod
    def _unique_ids(cls, value: list[Any], info: Any) -> list[Any]:
        # The routes address a source by id alone, so ids are unique across both lists.
        earlier = info.data.get("file_watch", []) if info.field_name == "timers" else []
        ids = [source.id for source in [*earlier, *value]]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError("source ids must be unique across file_watch and timers; "
                             f"repeated: {', '.join(repeated)}")
        return value


class ForwarderSettings(_Section):
    """One webhook forwarder: POST matching events to a URL."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                      description="Subscriber name.")
    url: str = Field(pattern=r"^https?://", description="Where to POST each event (JSON).")
    event_types: list[str] = Field(default_factory=list,
                                   description="Types to forward; empty = all.")
    sources: list[str] = Field(default_factory=list, description="Sources to forward; empty = all.")
    timeout_sec: float = Field(10.0, gt=0, le=300)
    secret: SecretStr = Field(SecretStr(""), description="HMAC key for X-Aman-Signature.")


class NotificationsSettings(_Section):
    """Stored notifications."""

    max_stored: int = Field(1000, ge=10, description="Oldest notifications beyond this are pruned.")


class _DirsSection(_Section):
    """A section whose content is loaded from folders."""

    dirs: list[Path] | None = Field(
        None, description="Folders to load from; null means the documented defaults."
    )


class SkillsSettings(_DirsSection):
    """Skill folders and how long the folder watch waits for changes to settle."""

    debounce_ms: int = Field(300, ge=0, le=60_000, description="Watch debounce before a reload.")


class SoulsSettings(_DirsSection):
    """Soul folders and the active soul."""

    active: str = Field("default", min_length=1,
                        description="Name of the soul to use, or the path of a soul file.")


def is_soul_path(ref: str) -> bool:
    """Whether a soul reference names a file or folder (a ``/``, a leading ``~``, a ``.md``
    ending) rather than a soul in the soul folders."""
    return "/" in ref or os.sep in ref or ref.startswith("~") or ref.lower().endswith(".md")


class PluginsSettings(_DirsSection):
    """Plugin folders and the limits on installed archives."""

    max_archive_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest unpacked size of a plugin archive."
    )
    max_archive_files: int = Field(1000, ge=1,
                                   description="Most entries a plugin archive may hold.")
    config: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per plugin.")


class WorkflowsSettings(_DirsSection):
    """Workflow definition folders."""


class CronJobSettings(CronJobSpec):
    """One static cron job under ``cron.jobs``; the file wins for its id at every boot."""

    @model_validator(mode="after")
    def _valid_schedule(self) -> CronJobSettings:
        # A bad expression or zone is a startup error naming the key, not a job that never runs.
        try:
            build_trigger(self.expression, self.timezone or "UTC", datetime.now(UTC))
        except AmanError as exc:
            raise ValueError(str(exc)) from None
        return self


class CronSettings(_Section):
    """Cron scheduling."""

    timezone: str = Field("UTC", description="Time zone for cron expressions without one.")
    jobs: list[CronJobSettings] = Field(default_factory=list, description="Static cron jobs.")
    max_catch_up: int = Field(
        100, ge=1, le=1000, description="Most missed runs one job fires at boot (catch_up: all)."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            resolve_timezone(value)
        except AmanError as exc:
            raise ValueError(f"{exc}; use an IANA name such as UTC or Europe/Berlin") from None
        return value

    @field_validator("jobs")
    @classmethod
    def _unique_job_ids(cls, value: list[CronJobSettings]) -> list[CronJobSettings]:
        ids = [job.id for job in value]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"cron job ids must be unique; repeated: {', '.join(repeated)}")
        return value


class Settings(_Section):
    """All of aman's configuration, validated and frozen."""

    http: HttpSettings = Field(default_factory=HttpSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    event_bus: EventBusSettings = Field(default_factory=EventBusSettings)
    skills: SkillsSettings = Field(default_factory=SkillsSettings)
    souls: SoulsSettings = Field(default_factory=SoulsSettings)
    plugins: PluginsSettings = Field(default_factory=PluginsSettings)
    workflows: WorkflowsSettings = Field(default_factory=WorkflowsSettings)
    dlq: DlqSettings = Field(default_factory=DlqSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    channels: dict[str, dict[str, ChannelSettings]] = Field(default_factory=dict)
    notifications: NotificationsSettings = Field(default_factory=NotificationsSettings)
    forwarders: list[ForwarderSettings] = Field(default_factory=list)
    cron: CronSettings = Field(default_factory=CronSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    agents: dict[str, AgentSettings] = Field(default_factory=dict)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    idle: IdleSettings = Field(default_factory=IdleSettings)
    info_hub: InfoHubSettings = Field(default_factory=InfoHubSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)

    @field_validator("forwarders")
    @classmethod
    def _unique_forwarder_names(cls, value: list[ForwarderSettings]) -> list[ForwarderSettings]:
        names = [f.name for f in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"forwarder names must be unique; repeated: {', '.join(repeated)}")
        return value

    @field_validator("channels")
    @classmethod
    def _known_platforms(
        cls, value: dict[str, dict[str, ChannelSettings]]
    ) -> dict[str, dict[str, ChannelSettings]]:
        unknown = sorted(set(value) - CHANNEL_PLATFORMS)
        if unknown:
            raise ValueError(
                f"unknown platform(s) {', '.join(unknown)}; "
                f"supported: {', '.join(sorted(CHANNEL_PLATFORMS))}"
            )
        problems = [channel_problem(p, i, c) for p, found in value.items()
                    for i, c in found.items()]
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return value

    @model_validator(mode="after")
    def _agents_use_known_providers(self) -> Settings:
        for agent_id, agent in self.agents.items():
            if agent.provider is not None and agent.provider not in self.llm.providers:
                known = ", ".join(sorted(self.llm.providers)) or "none configured"
                raise ValueError(f"agents.{agent_id}.provider: {agent.provider!r} is not in "
                                 f"llm.providers ({known})")
        return self

    @property
    def skills_dirs(self) -> list[Path]:
        """Effective skill folders: the repo's ``skills/`` then ``<runtime.dir>/skills``."""
        return self.skills.dirs or [PROJECT_ROOT / "skills", self.runtime.dir / "skills"]

    @property
    def souls_dirs(self) -> list[Path]:
        """Effective soul folders."""
        return self.souls.dirs or [PROJECT_ROOT / "souls", self.runtime.dir / "souls"]

    @property
    def plugins_dirs(self) -> list[Path]:
        """Effective plugin folders: bundled ``plugins/`` then installed ones."""
        return self.plugins.dirs or [PROJECT_ROOT / "plugins", self.runtime.dir / "plugins"]

    @property
    def workflows_dirs(self) -> list[Path]:
        """Effective workflow definition folders."""
        return self.workflows.dirs or [
            PROJECT_ROOT / "config" / "workflows",
            self.runtime.dir / "workflows",
        ]

    @property
    def database_path(self) -> Path:
        """The SQLite file: ``store.url``'s path (relative to the runtime dir) or ``aman.db``."""
        named = self.store.sqlite_path()
        return self.runtime.dir / named if named else self.runtime.dir / "aman.db"

    @property
    def token_configured(self) -> bool:
        """Whether authentication is on."""
        return bool(self.http.token.get_secret_value())


def split_bind(bind: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 as ``[::1]:PORT``) into host and port."""
    host, sep, port_text = bind.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9090")
    return host.strip("[]"), int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
