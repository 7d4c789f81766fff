"""Configuration of the conversational side: LLM providers, agents and chat.

Kept apart from ``aman.config.settings`` (which composes these sections) so each file stays
about one concept. Cross-section rules (an agent's provider must exist) live in ``Settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aman.config.heartbeat import HeartbeatSettings
from aman.config.memory import MemorySettings
from aman.parsing import regex_pattern

ProviderKind = Literal["openai", "anthropic", "local", "scripted"]
#: A tool's sensitivity as the config file writes it (``aman.tools.model.Sensitivity``).
Level = Literal["low", "medium", "high"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceSettings(_Section):
    """Prices per million tokens, in the currency the user reads costs in."""

    input: float = Field(0.0, ge=0, description="Per million input tokens.")
    output: float = Field(0.0, ge=0, description="Per million output tokens.")
    cached: float | None = Field(None, ge=0, description="Per million cached input tokens "
                                                         "(default: the input price).")


class ProviderSettings(_Section):
    """One LLM provider: a remote API (openai, anthropic) or an embedded GGUF model (local)."""

    kind: ProviderKind = Field(description="openai | anthropic | local | scripted.")
    model: str = Field("", description="Model name sent to the API; for local, a label.")
    base_url: str | None = Field(None, description="API base URL (openai: .../v1).")
    api_key: SecretStr = Field(SecretStr(""), description="API key; use ${VAR}.")
    timeout_sec: float = Field(60.0, gt=0, le=3600, description="Per request.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries on connect errors, 429, 5xx.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    fallbacks: list[str] = Field(default_factory=list, description="Providers tried next.")
    prices: PriceSettings | None = Field(None, description="Per-million-token prices; usage "
                                                           "records then carry a cost.")
    model_path: Path | None = Field(None, description="local: a GGUF file; default SmolLM2.")
    idle_unload_sec: float = Field(300.0, gt=0, description="local: unload after idle.")
    context_tokens: int = Field(4096, ge=256, le=1_048_576, description="local: n_ctx.")
    threads: int | None = Field(None, ge=1, le=256, description="local: CPU threads.")

    replies: list[str] = Field(default_factory=list,
                               description="scripted: replies in turn (tests and demos).")
    first_token_ms: int = Field(0, ge=0, le=600_000, description="scripted: delay to 1st token.")
    token_ms: int = Field(0, ge=0, le=60_000, description="scripted: delay between tokens.")

    @field_validator("model_path")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


class LlmSettings(_Section):
    """Named providers and the default one."""

    default_provider: str = Field("", description="Name in providers; empty = none configured.")
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    probe_interval_sec: float = Field(30.0, ge=1, description="Health probes at most this often.")

    @model_validator(mode="after")
    def _names_exist(self) -> LlmSettings:
        known = set(self.providers)
        if self.default_provider and self.default_provider not in known:
            raise ValueError(f"default_provider {self.default_provider!r} is not in providers "
                             f"({', '.join(sorted(known)) or 'none configured'})")
        for name, provider in self.providers.items():
            for fallback in provider.fallbacks:
                if fallback == name or fallback not in known:
                    raise ValueError(f"providers.{name}.fallbacks: {fallback!r} must name another "
                                     f"provider ({', '.join(sorted(known - {name})) or 'none'})")
        return self


class AgentToolSettings(_Section):
    """Which tools an agent's model is offered (glob patterns), and at which levels."""

    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)
    sensitivity: dict[str, Level] = Field(
        default_factory=dict, description="Per-tool levels for this agent, over tools.sensitivity.")


class NetworkSettings(_Section):
    """Where the web tools may go although it is inside (loopback, private, link-local, ...)."""

    allow: list[str] = Field(default_factory=list,
                             description="Host names or CIDRs the web tools may reach anyway.")

    @field_validator("allow")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        blank = [entry for entry in value if not entry.strip()]
        if blank:
            raise ValueError("entries are host names or CIDRs (10.0.0.0/8, ::1), not empty")
        return [entry.strip() for entry in value]


class ToolsSettings(_Section):
    """Tools the agent can use."""

    workspace_dir: Path | None = Field(None, description="null = <runtime.dir>/workspace.")
    roots: list[Path] = Field(default_factory=list, description="More folders file tools may use.")
    max_output_bytes: int = Field(65_536, ge=1024, le=10_485_760)
    exec_timeout_sec: float = Field(60.0, gt=0, le=86_400)
    approval_timeout_sec: float = Field(60.0, gt=0, le=86_400)
    auto_approve: list[str] = Field(default_factory=list, description="Tools that never ask.")
    sensitivity: dict[str, Level] = Field(
        default_factory=dict, description="Per-tool level overrides.")
    network: NetworkSettings = Field(default_factory=NetworkSettings)


class AgentSettings(_Section):
    """One agent: which provider, model and soul it talks with, and its limits."""

    display_name: str = ""
    provider: str | None = Field(None, description="Provider name; null = llm.default_provider.")
    model: str | None = Field(None, description="Model; null = the provider's model.")
    soul: str | None = Field(None, description="Soul name; null = souls.active.")
    skills: list[str] | None = Field(None, description="Skills it may use; null = all.")
    enabled: bool = True
    queue_max_size: int = Field(10, ge=1, le=1000, description="Messages waiting per session.")
    max_context_tokens: int = Field(4096, ge=256, le=2_000_000)
    max_output_tokens: int = Field(512, ge=1, le=200_000)
    temperature: float = Field(0.7, ge=0, le=2)
    tools: AgentToolSettings = Field(default_factory=AgentToolSettings)
    max_react_turns: int = Field(10, ge=1, le=100, description="Tool rounds per reply.")
    heartbeat: HeartbeatSettings = Field(default_factory=HeartbeatSettings,
                                         description="Checking in on its own; off by default.")
    memory: MemorySettings = Field(default_factory=MemorySettings,
                                   description="Long-term memory files, imports and scope.")

    def tool_sensitivity(self) -> dict[str, Level]:
        """This agent's per-tool levels: its ``tools.sensitivity``, then what its other settings
        impose (``memory.write_approval``), which a level of its own cannot undo."""
        return {**self.tools.sensitivity, **self.memory.tool_sensitivity()}


class ContentRule(_Section):
    """A content-policy rule applied to every user message before it is stored."""

    name: str = Field(min_length=1, max_length=200,
                      description="What refusals and audits call it; default: its pattern.")
    pattern: str = Field(min_length=1, description="Regular expression (case-insensitive).")
    action: Literal["block", "replace_message", "replace_token"]
    replacement: str = Field("[redacted]", description="replace_token: what a match becomes.")

    @model_validator(mode="before")
    @classmethod
    def _named_by_pattern(cls, value: object) -> object:
        # A rule written as just {pattern, action} is named by its pattern.
        if isinstance(value, dict) and value.get("name") is None and isinstance(
                value.get("pattern"), str):
            return {**value, "name": value["pattern"][:200]}
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return regex_pattern(value)


class ChatSettings(_Section):
    """Chat sessions."""

    content_policy: list[ContentRule] = Field(default_factory=list)
    wait_timeout_sec: float = Field(60.0, gt=0, le=3600, description="send with wait: true.")
    chunk_interval_ms: int = Field(50, ge=0, le=5000, description="Reply chunks coalesced.")
