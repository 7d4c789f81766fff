"""The settings in force as plain data with every secret replaced by ``***``.

For ``GET /config/effective`` (the console's config view): ``SecretStr`` values, and any value
under a key that names a credential (a token, secret, password, API key, authorization header
or cookie, at any depth: provider headers, plugin and source configs), are never shown.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from aman.config.changes import REDACTED

_CREDENTIAL_WORDS = ("token", "secret", "password", "passwd", "api_key", "apikey",
                     "authorization", "cookie", "private_key", "credential")


def _credential(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return any(word in name for word in _CREDENTIAL_WORDS) and not name.endswith(
        ("_tokens", "_ms", "_sec", "tokens"))


def _plain(value: Any, key: str = "") -> Any:
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if key and _credential(key) and isinstance(value, str):
        return REDACTED if value else ""
    if isinstance(value, BaseModel):
        return {name: _plain(item, name) for name, item in value}
    if isinstance(value, dict):
        return {str(k): _plain(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item, key) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def effective(settings: BaseModel) -> dict[str, Any]:
    """Every section and key of ``settings`` as JSON-ready data, secrets redacted."""
    shown: dict[str, Any] = _plain(settings)
    return shown
