"""The settings in force as plain data, every secret shown as ``***``.

For ``GET /config/effective`` (the console's config view). What is secret is the one rule of
``aman.config.secrets``, applied at every depth (provider headers, plugin and source configs).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aman.config.secrets import REDACTED, is_secret, masked


def _plain(value: Any, key: str) -> Any:
    if is_secret(key, value):
        return REDACTED if value else ""
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name), f"{key}.{name}")
                for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item, key) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def effective(settings: BaseModel) -> dict[str, Any]:
    """Every section and key of ``settings`` as JSON-ready data, secrets redacted."""
    shown = {name: _plain(getattr(settings, name), name) for name in type(settings).model_fields}
    if "mcp" in shown:  # an MCP server's env and headers carry credentials under any name
        shown["mcp"] = masked(shown["mcp"])
    return shown
