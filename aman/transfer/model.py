"""The values of a store transfer: where a store lives, what was copied, and what refuses one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from aman.audit.model import VerifyReport
from aman.config.store import StoreSettings
from aman.errors import AmanError


class TransferRefusedError(AmanError):
    """A transfer that must not start (bad URL, running daemon, occupied target); nothing
    was written."""

    code = "store_transfer_refused"
    hint = "Fix what the message names, then run aman migrate-store again."


class InvalidStoreUrlError(TransferRefusedError):
    """A store URL that is malformed or names a backend aman does not have."""

    code = "invalid_store_url"
    hint = "Use sqlite:///path/to/aman.db or postgresql://user@host:port/database."


@dataclass(frozen=True)
class StoreLocation:
    """One store named by a URL: the embedded SQLite file or a PostgreSQL database."""

    kind: str  #: "sqlite" or "postgresql"
    url: str  #: the URL as given (PostgreSQL) or ``sqlite:///<absolute path>``
    path: Path | None = None  #: the SQLite file

    def describe(self) -> str:
        """The store for messages: the file, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return f"postgresql://{user}{parts.hostname or 'localhost'}{port}{parts.path}"


def parse_store_url(url: str, base_dir: Path) -> StoreLocation:
    """The store ``url`` names, by the rules of ``store.url`` (a relative SQLite path is under
    ``base_dir``, the runtime dir); a malformed or unknown URL is ``InvalidStoreUrlError``."""
    if not url.strip():
        raise InvalidStoreUrlError("a store URL is empty")
    try:
        settings = StoreSettings(url=url)
    except ValidationError as exc:
        reason = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InvalidStoreUrlError(f"{url!r} is not a store URL: {reason}") from None
    assert settings.url is not None
    if settings.is_postgres:
        return StoreLocation("postgresql", settings.url)
    named = settings.sqlite_path()
    assert named is not None
    path = (base_dir / Path(named).expanduser()).resolve()
    return StoreLocation("sqlite", f"sqlite://{path}", path)


@dataclass(frozen=True)
class TableReport:
    """One copied table: its rows in the source and in the target after the copy."""

    name: str
    source_rows: int
    target_rows: int

    @property
    def matches(self) -> bool:
        """Whether the target holds as many rows as the source."""
        return self.source_rows == self.target_rows

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"table": self.name, "source_rows": self.source_rows,
                "target_rows": self.target_rows, "matches": self.matches}


@dataclass(frozen=True)
class TransferReport:
    """What a transfer copied and how the target checked out against the source."""

    source: StoreLocation
    target: StoreLocation
    schema_version: int
    tables: tuple[TableReport, ...]
    #: source tables left out, each with why (a search index the target keeps in its own way,
    #: the source's daemon rows)
    skipped: tuple[tuple[str, str], ...]
    audit: VerifyReport  #: the hash chain walked on the target
    #: the chain walked on the source, only when the target's failed (was it broken before?)
    source_audit: VerifyReport | None = None
    #: the source's schema version before this transfer brought it up to date, if it did
    upgraded_from: int | None = None
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        """What differs between source and target, one line each; empty when all matches."""
        found = [f"{t.name}: {t.source_rows} rows in the source, {t.target_rows} in the target"
                 for t in self.tables if not t.matches]
        if not self.audit.ok:
            broken = self.audit.first_broken
            where = f" at record {broken.id} ({broken.reason})" if broken else ""
            before = ""
            if self.source_audit is not None:
                before = (" (the source's chain verifies)" if self.source_audit.ok
                          else " (the source's chain is broken too)")
            found.append(f"the audit chain does not verify on the target{where}{before}")
        return found

    @property
    def ok(self) -> bool:
        """Whether every table matches and the audit chain verifies on the target."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "ok": self.ok,
            "source": self.source.describe(),
            "target": self.target.describe(),
            "schema_version": self.schema_version,
            "upgraded_from": self.upgraded_from,
            "tables": [t.to_json() for t in self.tables],
            "skipped": [{"table": name, "why": why} for name, why in self.skipped],
            "audit": self.audit.to_json(),
            "source_audit": self.source_audit.to_json() if self.source_audit else None,
            "problems": self.problems,
            "seconds": round(self.seconds, 3),
        }
