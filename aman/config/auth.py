"""Configuration of scoped API keys given in the config file (``auth.keys``).

A deployment can hand out keys without any API call: each entry names the key, its scopes and
the SHA-256 of its secret (``aman keys hash`` prints it). Secrets are long random strings, so a
fast hash is the right one: nobody can guess a 256-bit secret from its hash.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aman.auth.model import SCOPES

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def key_name(value: str) -> str:
    """A valid key name (config file and ``POST /auth/keys`` share the rule)."""
    if not _NAME.match(value):
        raise ValueError("must be 1-64 letters, digits, '.', '_', ':' or '-', "
                         "starting with a letter or digit")
    return value


def aware_time(value: datetime | None) -> datetime | None:
    """An expiry with a time zone (a bare local time would mean a different moment per host)."""
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2027-01-01T00:00:00Z")
    return value


class ConfigKeySettings(BaseModel):
    """One key given in the config: ``{name, scopes, hash, agents?, expires_at?}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Unique name; shown as the operator in the audit log.")
    scopes: list[str] = Field(min_length=1, description="Scopes: " + ", ".join(SCOPES) + ".")
    hash: str = Field(description="`sha256:` and the hex SHA-256 of the secret.")
    agents: list[str] | None = Field(None, description="Agents its chat and memory may reach.")
    expires_at: datetime | None = Field(None, description="ISO 8601 time after which it fails.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return key_name(value)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope(s) {', '.join(unknown)}; "
                             f"scopes are {', '.join(SCOPES)}")
        return value

    @field_validator("hash")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not _HASH.match(value):
            raise ValueError("must be 'sha256:' and 64 lower-case hex digits "
                             "(aman keys hash prints it)")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware_time(value)


class AuthSettings(BaseModel):
    """Scoped API keys; ``http.token`` stays the bootstrap admin key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[ConfigKeySettings] = Field(default_factory=list,
                                          description="Keys given in the config file.")

    @field_validator("keys")
    @classmethod
    def _unique_names(cls, value: list[ConfigKeySettings]) -> list[ConfigKeySettings]:
        names = [k.name for k in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"key names must be unique; repeated: {', '.join(repeated)}")
        return value
