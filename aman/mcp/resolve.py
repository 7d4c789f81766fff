"""From settings to what a connection needs: servers gathered, placeholders resolved, env checked.

Rules, each failing one server alone (its state shows the reason) and never the boot:
- ``${VAR}`` and ``${env:VAR}`` take the environment variable; ``${VAR:-default}`` its default
  when unset; ``${userHome}`` the home folder. One with no value names the key it is in.
- A stdio server's ``env`` may not set variables that change how an interpreter or the dynamic
  loader starts (``PYTHONPATH``, ``NODE_OPTIONS``, ``LD_PRELOAD``, ...): they make a server
  run code nobody configured as its command.
- ``mcp.import`` files are read when servers are gathered; a file that cannot be read is one
  failed entry named after the file, and servers named in ``mcp.servers`` win over imported ones.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aman.errors import ConfigError
from aman.mcp.settings import McpServerSettings, McpSettings, ToolFilter, Transport, Trust
from aman.parsing import error_summary

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_VAR = re.compile(r"^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)
#: Environment variables that make an interpreter or the loader run extra code at start-up.
INTERPRETER_CONTROL = frozenset({
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE",
    "PYTHONEXECUTABLE", "PYTHONWARNINGS", "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH",
    "DYLD_FRAMEWORK_PATH", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "BASH_ENV",
    "ENV", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GCONV_PATH",
})


class ServerConfigError(ConfigError):
    """One server's configuration cannot be used as written (that server fails alone)."""

    code = "mcp_server_config"
    hint = "Fix the named key of this server (docs/mcp.md); the other servers are unaffected."


@dataclass(frozen=True)
class ServerSpec:
    """One server as configured (placeholders still unresolved), or why its entry is unusable."""

    name: str
    origin: str  # "mcp.servers" or the imported file
    settings: McpServerSettings | None
    problem: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether it should be connected."""
        return self.settings is not None and self.settings.enabled


@dataclass(frozen=True)
class ResolvedServer:
    """A server ready to connect: every value final."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_sec: float = 60.0
    connect_timeout_sec: float = 30.0
    tools: ToolFilter = field(default_factory=ToolFilter)
    trust: Trust = "untrusted"


def gather(settings: McpSettings) -> dict[str, ServerSpec]:
    """Every configured server by name: imported files first, ``mcp.servers`` over them."""
    found: dict[str, ServerSpec] = {}
    for path in settings.imports:
        found.update(read_import(path))
    for name, server in settings.servers.items():
        found[name] = ServerSpec(name, "mcp.servers", server)
    return found


def read_import(path: Path) -> dict[str, ServerSpec]:
    """The servers of one MCP file written for another client (JSON, JSONC-free, or YAML)."""
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        return {f"import:{path.name}": ServerSpec(f"import:{path.name}", origin, None,
                                                  f"mcp.import {path}: cannot be read ({reason})")}
    servers = _server_map(data)
    if servers is None:
        return {f"import:{path.name}": ServerSpec(
            f"import:{path.name}", origin, None,
            f"mcp.import {path}: no mcpServers or servers map at the top level")}
    specs = {}
    for name, raw in servers.items():
        try:
            specs[str(name)] = ServerSpec(str(name), origin, McpServerSettings.model_validate(raw))
        except ValidationError as exc:
            why = error_summary(exc, root="entry")
            specs[str(name)] = ServerSpec(str(name), origin, None, f"{path} server {name}: {why}")
    return specs


def _server_map(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("mcp"), dict):  # VS Code settings.json keeps it under "mcp"
        data = data["mcp"]
    for key in ("mcpServers", "servers"):
        if isinstance(data.get(key), dict):
            return dict(data[key])
    return None


def resolve(name: str, server: McpServerSettings,
            environ: Mapping[str, str] | None = None) -> ResolvedServer:
    """Final values for ``server``; ``ServerConfigError`` naming the key that cannot be used."""
    env = os.environ if environ is None else environ
    prefix = f"mcp.servers.{name}"

    def text(value: str, key: str) -> str:
        return substitute(value, env, f"{prefix}.{key}")

    kind = server.kind
    if kind == "stdio":
        refused = sorted(key for key in server.env if key.upper() in INTERPRETER_CONTROL)
        if refused:
            raise ServerConfigError(
                f"{prefix}.env sets {', '.join(refused)}: variables that change how an "
                "interpreter or the loader starts are refused, because they make the server run "
                "code that is not its configured command")
        return ResolvedServer(
            name, kind, command=text(str(server.command), "command"),
            args=tuple(text(a, f"args[{i}]") for i, a in enumerate(server.args)),
            env={k: text(v, f"env.{k}") for k, v in server.env.items()},
            cwd=text(server.cwd, "cwd") if server.cwd else None,
            timeout_sec=server.timeout_sec, connect_timeout_sec=server.connect_timeout_sec,
            tools=server.tools, trust=server.trust)
    return ResolvedServer(
        name, kind, url=text(str(server.url), "url"),
        headers={k: text(v, f"headers.{k}") for k, v in server.headers.items()},
        timeout_sec=server.timeout_sec, connect_timeout_sec=server.connect_timeout_sec,
        tools=server.tools, trust=server.trust)


def substitute(value: str, environ: Mapping[str, str], key: str) -> str:
    """``value`` with its placeholders filled; ``ServerConfigError`` naming ``key`` if one has
    no value (the variable's value is never put in the message)."""
    def fill(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner == "userHome":
            return str(Path.home())
        parsed = _VAR.match(inner)
        if parsed is None:
            raise ServerConfigError(
                f"{key}: placeholder ${{{inner}}} is not understood; write ${{VAR}}, "
                "${VAR:-default}, ${env:VAR} or ${userHome}")
        variable, default = parsed.group(1), parsed.group(2)
        if variable in environ:
            return environ[variable]
        if default is not None:
            return default
        raise ServerConfigError(
            f"{key}: environment variable {variable} is not set (referenced as "
            f"${{{inner}}}); set it or write ${{{variable}:-default}}")

    return _PLACEHOLDER.sub(fill, value) if "${" in value else value
