"""Which configuration keys are secret: one rule for logs, error messages, config reads and audit.

A key is secret when its value is a ``SecretStr`` or its last segment ends in ``token``,
``secret``, ``password``, ``api_key``, ``authorization`` or ``cookie`` (so
``llm.providers.x.api_key``, ``channels.slack.bot.signing_secret``, a plugin option named
``api_token`` and a provider's ``Authorization`` header all are), and so is any URL that carries a
password (``postgresql://user:password@host/db`` in ``store.url``). A secret's value is shown as
``***`` and never echoed, even when it is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

REDACTED = "***"
#: Key names whose values are secret (besides every ``SecretStr`` value, whatever its key).
SECRET_SUFFIXES = ("token", "secret", "password", "api_key", "authorization", "cookie")
#: Shorter secret values are not searched for in log lines: replacing every "k" of a line
#: would make the log unreadable and hide nothing worth hiding.
_MIN_REDACTED_LENGTH = 4
#: ``scheme://user:password@``: a URL with credentials in it.
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@", re.IGNORECASE)


def is_secret(key: str, value: Any = None) -> bool:
    """Whether the value at dotted ``key`` must never be shown."""
    return (isinstance(value, SecretStr)
            or key.rsplit(".", 1)[-1].lower().endswith(SECRET_SUFFIXES)
            or (isinstance(value, str) and _URL_WITH_PASSWORD.match(value) is not None))


def shown(key: str, value: Any) -> Any:
    """``value`` as it may be shown for ``key``: ``***`` when secret (``repr`` is the caller's)."""
    return REDACTED if is_secret(key, value) else value


#: Inside a mapping set as a whole (an MCP server), the values under these keys may be
#: credentials (API keys in ``env``, ``Authorization`` in ``headers``), whatever their names.
SECRET_MAPS = frozenset({"env", "headers"})
_BARE_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


def masked(value: Any, parent: str = "") -> Any:
    """Plain data (a mapping set as a whole) with its secrets as ``***``: values of secret keys
    and every value under ``env`` or ``headers``; a bare ``${VAR}`` placeholder is shown, as it
    names a variable, not its value."""
    if isinstance(value, dict):
        if parent in SECRET_MAPS:
            return {k: _masked_leaf(v) for k, v in value.items()}
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, parent) for v in value]
    if parent.lower().endswith(SECRET_SUFFIXES) and isinstance(value, str):
        return _masked_leaf(value)
    return value


def _masked_leaf(value: Any) -> Any:
    if isinstance(value, str) and _BARE_PLACEHOLDER.fullmatch(value):
        return value
    return REDACTED


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret's text in ``settings`` long enough to redact, for the log formatter."""
    found = {text for key, value in _walk(settings, "") if is_secret(key, value)
             for text in [_text(value)] if len(text) >= _MIN_REDACTED_LENGTH}
    return sorted(found, key=len, reverse=True)  # longest first: no partial replacements


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else ""


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of a settings tree."""
    if isinstance(node, BaseModel):
        items: Any = ((name, getattr(node, name)) for name in type(node).model_fields)
    elif isinstance(node, Mapping):
        items = node.items()
    else:
        yield prefix, node
        return
    for name, value in items:
        yield from _walk(value, f"{prefix}.{name}" if prefix else str(name))


def literal_secrets(path: Path) -> list[str]:
    """Dotted keys of a YAML file holding a secret's text itself (not a ``${VAR}``), so the
    file must be readable by its owner only; empty when the file is unreadable."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    return [key for key, value in _file_leaves(data, "")
            if is_secret(key) and isinstance(value, str | int) and not isinstance(value, bool)
            and str(value).strip() and "${" not in str(value)]


def _file_leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of parsed YAML, list items numbered."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            yield from _file_leaves(value, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _file_leaves(value, f"{prefix}.{index}")
    else:
        yield prefix, node
