"""The ``mcp`` configuration section: MCP servers by name, and files to import servers from.

Users arrive with MCP files already written for other clients, so the shapes they paste are
accepted unchanged: a ``mcpServers`` map (Claude Desktop, Claude Code, Cursor) or a ``servers``
map (VS Code), ``type`` or ``transport`` spelled any common way (``stdio``, ``http``,
``streamable-http``, ``streamableHttp``, ``sse``), and keys those clients know but aman has no
use for (``envFile``, ``autoApprove``, ...) are ignored. ``disabled: true`` means
``enabled: false``. Any other unknown key is refused, naming it.

String values are kept as written: ``${VAR}``, ``${VAR:-default}``, ``${env:VAR}`` and
``${userHome}`` are resolved when the server connects (``aman.mcp.resolve``), so a placeholder
without a value fails that server alone instead of the boot. This module imports no MCP code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Transport = Literal["stdio", "http", "sse"]
Trust = Literal["trusted", "untrusted"]

#: How other clients spell a transport → aman's name for it.
TRANSPORT_SPELLINGS: dict[str, Transport] = {
    "stdio": "stdio", "local": "stdio",
    "http": "http", "streamable-http": "http", "streamable_http": "http",
    "streamablehttp": "http", "remote": "http",
    "sse": "sse",
}
#: Keys other MCP clients write that aman accepts and ignores (no meaning here).
FOREIGN_KEYS = frozenset({
    "envFile", "autoApprove", "alwaysAllow", "description", "name", "gallery", "version",
    "dev", "disabledTools", "timeout", "oauth", "icon", "notes", "tags",
})


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolFilter(_Section):
    """Which of a server's tools become aman tools (exact names or globs, server's own names)."""

    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)


class McpServerSettings(_Section):
    """One MCP server: a command run over stdio, or a URL (streamable HTTP or SSE)."""

    transport: Transport | None = Field(
        None, description="stdio, http or sse; null = stdio with a command, sse for a URL "
                          "ending in /sse, else http.")
    command: str | None = Field(None, description="stdio: the program to run.")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra environment.")
    cwd: str | None = Field(None, description="stdio: working folder.")
    url: str | None = Field(None, description="http/sse: the endpoint.")
    headers: dict[str, str] = Field(default_factory=dict, description="http/sse: headers.")
    enabled: bool = True
    timeout_sec: float = Field(60.0, gt=0, le=3600, description="Per tool call.")
    connect_timeout_sec: float = Field(30.0, gt=0, le=600, description="Per connection attempt.")
    tools: ToolFilter = Field(default_factory=ToolFilter)
    trust: Trust = Field("untrusted", description="trusted lets read-only tools run unasked.")

    @model_validator(mode="before")
    @classmethod
    def _pasted_shape(cls, data: Any) -> Any:
        """Map what other clients write onto aman's fields; ignore their irrelevant keys."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k not in FOREIGN_KEYS}
        spelled = [data.pop(key) for key in ("type", "transportType") if key in data]
        if spelled and "transport" not in data:
            data["transport"] = spelled[0]
        if isinstance(data.get("transport"), str):
            raw = data["transport"]
            data["transport"] = TRANSPORT_SPELLINGS.get(raw.lower().replace(" ", ""), raw)
        if "disabled" in data:
            disabled = data.pop("disabled")
            data.setdefault("enabled", not bool(disabled))
        for key in ("args",):
            if data.get(key) is None:
                data.pop(key, None)
        for key in ("env", "headers"):
            if isinstance(data.get(key), dict):  # numbers and booleans as written in JSON
                data[key] = {str(k): _text(v) for k, v in data[key].items()}
            elif data.get(key) is None:
                data.pop(key, None)
        return data

    @model_validator(mode="after")
    def _command_or_url(self) -> McpServerSettings:
        if self.command and self.url:
            raise ValueError("give either command (stdio) or url (http/sse), not both")
        if not self.command and not self.url:
            raise ValueError("give a command (stdio server) or a url (http/sse server)")
        if self.transport == "stdio" and not self.command:
            raise ValueError("transport stdio needs a command")
        if self.transport in ("http", "sse") and not self.url:
            raise ValueError(f"transport {self.transport} needs a url")
        return self

    @property
    def kind(self) -> Transport:
        """The transport in force (explicit, or guessed from command/url)."""
        if self.transport is not None:
            return self.transport
        if self.command:
            return "stdio"
        return "sse" if str(self.url).rstrip("/").endswith("/sse") else "http"


class McpSettings(_Section):
    """MCP servers whose tools the agents may use."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    servers: dict[str, McpServerSettings] = Field(
        default_factory=dict, description="By name; also accepted as mcpServers.")
    imports: list[Path] = Field(
        default_factory=list, alias="import",
        description="MCP files of other clients (claude_desktop_config.json, .mcp.json, "
                    ".cursor/mcp.json, .vscode/mcp.json) read where they lie.")

    @model_validator(mode="before")
    @classmethod
    def _pasted_map(cls, data: Any) -> Any:
        """``mcpServers`` (Claude, Cursor) is the same map as ``servers`` (VS Code)."""
        if not isinstance(data, dict) or "mcpServers" not in data:
            return data
        data = dict(data)
        pasted = data.pop("mcpServers") or {}
        servers = dict(data.get("servers") or {})
        clash = sorted(set(pasted) & set(servers))
        if clash:
            raise ValueError(f"server(s) {', '.join(clash)} appear in both servers and mcpServers")
        data["servers"] = {**servers, **pasted}
        return data

    @field_validator("servers")
    @classmethod
    def _names(cls, value: dict[str, McpServerSettings]) -> dict[str, McpServerSettings]:
        bad = sorted(name for name in value if not name.strip() or "/" in name)
        if bad:
            raise ValueError(f"server names must be non-empty without '/': {bad}")
        return value

    @field_validator("imports")
    @classmethod
    def _expand(cls, value: list[Path]) -> list[Path]:
        return [path.expanduser() for path in value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
