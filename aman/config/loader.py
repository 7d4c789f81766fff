"""load_settings: the layers merged, ``${VAR}`` placeholders resolved, then validated once.

Layers, lowest first: built-in defaults, the YAML file, ``<runtime.dir>/config.override.yaml``
(live changes), ``AMAN_<SECTION>__<KEY>`` environment variables, then CLI flags. A validation
error names the dotted key, the bad value (never a secret's) and what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aman.config.override import is_whole, nest, override_note, read_override_layer
from aman.config.secrets import REDACTED, is_secret
from aman.config.settings import (
    DEFAULT_CONFIG_PATH,
    RuntimeSettings,
    Settings,
    is_loopback,
    is_soul_path,
    split_bind,
)
from aman.errors import ConfigError

_ENV_PREFIX = "AMAN_"
_ENV_NESTING = "__"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_settings(
    config_path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build validated settings from the layers; raise ``ConfigError`` naming the key."""
    environ = os.environ if env is None else env
    path = _choose_config_path(config_path, environ)
    layered: dict[str, Any] = _read_yaml(path) if path is not None else {}
    layered = _resolve_placeholders(layered, environ, prefix="")
    if path is not None:
        _anchor_relative_paths(layered, path.parent)
    env_layer, flag_layer = _env_layer(environ), _nest(overrides or {})
    # Live changes (POST /config/set) sit in the runtime dir that the file, environment
    # and flags name, and go below the environment, which always wins.
    override_path, live = read_override_layer(
        (layered, env_layer, flag_layer), lambda: RuntimeSettings.model_validate({}).dir)
    _deep_merge(layered, nest(live))  # keeps a null (agent_id: null), unlike _nest
    _replace_whole(layered, live)
    _deep_merge(layered, env_layer)
    _deep_merge(layered, flag_layer)
    try:
        settings = Settings.model_validate(layered)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, source=path)
                          + override_note(exc.errors(), live, override_path)) from None
    _check_cross_field_rules(settings)
    return settings


def config_file(explicit: Path | str | None = None,
                env: Mapping[str, str] | None = None) -> Path | None:
    """The config file ``load_settings`` reads for these arguments (None: defaults only)."""
    return _choose_config_path(explicit, os.environ if env is None else env)


def _choose_config_path(explicit: Path | str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist or is not a file")
        return path
    if environ.get("AMAN_CONFIG"):
        path = Path(environ["AMAN_CONFIG"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"AMAN_CONFIG names {path}, which does not exist or is not a file")
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections at the top level")
    return data


#: Sections whose placeholders are resolved by their own service, so that one with no value fails
#: that item alone instead of the boot (an MCP server's env and headers).
_LATE_PLACEHOLDERS = frozenset({"mcp"})


def _resolve_placeholders(value: Any, environ: Mapping[str, str], prefix: str) -> Any:
    if prefix in _LATE_PLACEHOLDERS:
        return value
    if isinstance(value, dict):
        return {
            k: _resolve_placeholders(v, environ, f"{prefix}.{k}" if prefix else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_placeholders(v, environ, f"{prefix}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{prefix}: environment variable {name} is not set "
                f"(referenced as ${{{name}}}); set it or write ${{{name}:-default}}"
            )

        return _PLACEHOLDER.sub(substitute, value)
    return value


#: Keys holding paths that, when relative in a config file, are relative to that file's folder.
_PATH_KEYS = {("runtime", "dir"), ("tools", "workspace_dir")}
_PATH_LIST_KEYS = {("skills", "dirs"), ("souls", "dirs"), ("plugins", "dirs"),
                   ("workflows", "dirs"), ("tools", "roots")}


def _anchor_relative_paths(layered: dict[str, Any], base: Path) -> None:
    def anchor(raw: Any) -> Any:
        if isinstance(raw, str) and raw and not raw.startswith("~"):
            candidate = Path(raw)
            return str(candidate if candidate.is_absolute() else (base / candidate).resolve())
        return raw

    for section, key in _PATH_KEYS | _PATH_LIST_KEYS:
        block = layered.get(section)
        if not isinstance(block, dict) or key not in block:
            continue
        if (section, key) in _PATH_LIST_KEYS and isinstance(block[key], list):
            block[key] = [anchor(item) for item in block[key]]
        elif (section, key) in _PATH_KEYS:
            block[key] = anchor(block[key])
    souls = layered.get("souls")
    if isinstance(souls, dict) and isinstance(souls.get("active"), str):
        # ``souls.active`` is a name, or a path to a soul file relative to this file's folder.
        if is_soul_path(souls["active"]):
            souls["active"] = anchor(souls["active"])


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """``AMAN_HTTP__TOKEN=x`` → ``{"http": {"token": "x"}}``.

    Single-underscore names are not config.
    """
    flat: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(_ENV_PREFIX) or _ENV_NESTING not in name:
            continue
        dotted = name[len(_ENV_PREFIX) :].lower().replace(_ENV_NESTING, ".")
        flat[dotted] = _parse_env_value(value)
    return _nest(flat)


def _parse_env_value(value: str) -> Any:
    """Lists and mappings may be given as YAML/JSON flow syntax; scalars stay strings."""
    stripped = value.strip()
    if stripped.startswith(("[", "{")):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            return value
    return value


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _replace_whole(layered: dict[str, Any], live: Mapping[str, Any]) -> None:
    """A mapping set live as a whole replaces the file's (a server removed live stays removed)."""
    for key, value in live.items():
        if not (is_whole(key) and isinstance(value, Mapping)):
            continue
        node = layered
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = dict(value)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def reread_settings(config_path: Path | None, current: Settings, *,
                    keeps: str = "the daemon") -> Settings:
    """The config file as it says now, to reload an agent or a channel or unset a live change
    (blocking file I/O).

    Same layering as at startup (``config_path`` None re-resolves AMAN_CONFIG or the shipped
    default). The listener and the runtime dir cannot change without a restart, so they are
    pinned to the running values: a token or bind given as a CLI flag must not make the re-read
    fail its cross-checks. A file that no longer validates raises ``ConfigError`` naming the key,
    with a hint that ``keeps`` (what was being reloaded) runs on as it was.
    """
    pinned: Mapping[str, Any] = {
        "http.bind": current.http.bind,
        "http.token": current.http.token.get_secret_value(),
        "runtime.dir": str(current.runtime.dir),
    }
    try:
        return load_settings(config_path, overrides=pinned)
    except ConfigError as exc:
        raise ConfigError(
            str(exc), hint=f"Fix the named key in the config file and try again; {keeps} keeps "
                           "running with the configuration it had.") from None


def _describe_validation_error(exc: ValidationError, *, source: Path | None) -> str:
    where = f" (file {source}, environment and flags)" if source else ""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(error["loc"][:-1])
            problems.append(f"unknown key {key!s}; allowed here: {', '.join(allowed)}")
            continue
        bad = error.get("input")
        shown = REDACTED if is_secret(key, bad) else repr(bad)
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{key} = {shown}: {message}")
    return f"invalid configuration{where}: " + "; ".join(problems)


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type)):
            return ["(see docs/configuration.md)"]
        annotation = field.annotation
        if not issubclass(annotation, BaseModel):
            return ["(see docs/configuration.md)"]
        model = annotation
    return sorted(model.model_fields)


def _check_cross_field_rules(settings: Settings) -> None:
    host, _ = split_bind(settings.http.bind)
    if not settings.token_configured and not is_loopback(host):
        raise ConfigError(
            f"http.bind = {settings.http.bind!r} is not a loopback address and http.token is "
            "empty: anyone on the network could control this agent. Set http.token "
            "(or AMAN_HTTP__TOKEN, or --token), or bind to 127.0.0.1"
        )
