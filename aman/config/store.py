"""Where the store lives: the embedded SQLite file (the default) or a PostgreSQL server."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

SQLITE_SCHEME = "sqlite://"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreSettings(BaseModel):
    """The store's backend, named by one URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        None, description="Absent or sqlite:///path = the embedded SQLite file (aman.db under "
                          "runtime.dir by default); postgresql://user@host:port/db = PostgreSQL.")

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if value.startswith(SQLITE_SCHEME):
            if not value[len(SQLITE_SCHEME):].strip("/"):
                raise ValueError("sqlite:// needs a file path, e.g. sqlite:///var/lib/aman/aman.db")
            return value
        if value.startswith(POSTGRES_SCHEMES):
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - parsing the port validates it
            except ValueError as exc:
                raise ValueError(f"not a valid PostgreSQL URL: {exc}") from exc
            if not parts.hostname and "host=" not in parts.query:
                raise ValueError("a PostgreSQL URL needs a host, e.g. "
                                 "postgresql://aman@127.0.0.1:5432/aman")
            if not parts.path.strip("/"):
                raise ValueError("a PostgreSQL URL needs a database name, e.g. "
                                 "postgresql://aman@127.0.0.1:5432/aman")
            return value
        scheme = value.split(":", 1)[0] if ":" in value else value
        raise ValueError(f"unknown store backend {scheme!r}: use sqlite:///path or "
                         "postgresql://user@host:port/database")

    @property
    def is_postgres(self) -> bool:
        """Whether the store is a PostgreSQL server."""
        return self.url is not None and self.url.startswith(POSTGRES_SCHEMES)

    def sqlite_path(self) -> str | None:
        """The file a ``sqlite://`` URL names (relative paths are under runtime.dir), else None."""
        if self.url is None or not self.url.startswith(SQLITE_SCHEME):
            return None
        return self.url[len(SQLITE_SCHEME):]
