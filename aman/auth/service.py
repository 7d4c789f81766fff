"""KeyService: makes, lists, revokes and checks scoped API keys.

Keys live in memory by the hash of their secret, so checking one is a dictionary lookup; the
store keeps keys made through the API, the config file the others. ``http.token`` is the
bootstrap key with every scope. A revoke is committed before it is answered and ends, at once,
every open stream that the key authenticated.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from aman.auth.limiter import FailureLimiter
from aman.auth.model import SCOPES, ApiKey, Principal, unrestricted
from aman.auth.scopes import unknown_scopes
from aman.clock import Clock
from aman.config.auth import AuthSettings
from aman.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    UnauthorizedError,
)
from aman.ids import uuid7

log = logging.getLogger(__name__)

#: Random bytes in a new secret (256 bits), and its recognisable start.
_SECRET_BYTES = 32
SECRET_PREFIX = "aman_"
#: Characters of the secret shown in listings.
_SHOWN = 12
#: last-used times are written at most this often (a write per request would cost a commit).
_TOUCH_EVERY_MS = 10_000


class KeyRepository(Protocol):
    """What the service needs from the store."""

    async def all(self) -> list[ApiKey]: ...  # noqa: D102
    async def add(self, key: ApiKey) -> None: ...  # noqa: D102
    async def revoke(self, key_id: str, *, now_ms: int) -> None: ...  # noqa: D102
    async def touch(self, last_used: dict[str, int]) -> None: ...  # noqa: D102


def hash_secret(secret: str) -> str:
    """``sha256:`` and the hex SHA-256 of ``secret``: what the store and the config hold."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A fresh secret: ``aman_`` and 256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


class KeyService:
    """Every key by hash, with the bootstrap token beside them."""

    def __init__(self, repo: KeyRepository, clock: Clock, *, token: Callable[[], str],
                 config: Callable[[], AuthSettings],
                 known_agents: Callable[[], Iterable[str]],
                 failures: FailureLimiter | None = None) -> None:
        self._repo = repo
        self._clock = clock
        self._token = token
        self._config = config
        self._known_agents = known_agents
        self._stored: dict[str, ApiKey] = {}  # id → key
        self._by_hash: dict[str, ApiKey] = {}
        self._config_source: AuthSettings | None = None
        self._loaded = False
        self._watchers: dict[str, set[Callable[[], None]]] = {}
        self._used: dict[str, int] = {}  # id → last use not yet written
        #: Refused credentials per source address (the HTTP guard counts and checks them).
        self.failures = failures or FailureLimiter()
        self._last_touch_ms: int | None = None  # never written yet

    async def start(self) -> None:
        """Load the stored keys."""
        self._stored = {key.id: key for key in await self._repo.all()}
        self._rebuild()
        self._loaded = True

    async def stop(self) -> None:
        """Write the last-used times still in memory."""
        await self.flush()

    async def refresh(self) -> None:
        """Re-read the stored keys: a key made or revoked on another daemon sharing the store
        counts here from now on, and a revoked key's open streams end here too."""
        stored = {key.id: key for key in await self._repo.all()}
        newly_revoked = [key_id for key_id, key in stored.items()
                         if key.revoked_at_ms is not None and key_id in self._stored
                         and self._stored[key_id].revoked_at_ms is None]
        self._stored = stored
        self._rebuild()
        for key_id in newly_revoked:
            for on_revoke in list(self._watchers.pop(key_id, ())):
                on_revoke()

    @property
    def enforced(self) -> bool:
        """Whether requests must authenticate (``http.token`` set)."""
        return bool(self._token())

    def signing_key(self) -> str:
        """What sign-in cookies are signed with: the bootstrap token, so changing it ends them."""
        return self._token()

    def now_ms(self) -> int:
        """The service's clock (key expiry and cookie expiry read the same time)."""
        return self._clock.now_ms()

    # --- checking --------------------------------------------------------------------------

    def authenticate(self, secret: str) -> Principal:
        """The principal ``secret`` stands for; ``UnauthorizedError`` for anything else."""
        token = self._token()
        if token and hmac.compare_digest(token.encode(), secret.encode()):
            return unrestricted("api")
        self._refresh_config()
        key = self._by_hash.get(hash_secret(secret))
        if key is None and not self._loaded:
            raise NotReadyError("API keys are not loaded yet (the daemon is booting)",
                                hint="Retry in a moment; GET /health/ready says when.")
        if key is None:
            raise UnauthorizedError("the API key or token sent is not valid",
                                    hint="Send http.token or a key from POST /auth/keys.")
        now = self._clock.now_ms()
        if key.revoked_at_ms is not None:
            raise UnauthorizedError(f"API key {key.name!r} was revoked",
                                    hint="Ask an admin for a new key.")
        if key.expired(now):
            raise UnauthorizedError(f"API key {key.name!r} expired",
                                    hint="Ask an admin for a new key.")
        if key.origin == "api":
            self._used[key.id] = now
        return _principal(key)

    def principal_of(self, key_id: str | None) -> Principal:
        """The principal of a key that authenticated earlier (None: the bootstrap token), while
        it is still valid; for sessions that traded a secret once (the console's cookie)."""
        if key_id is None:
            return unrestricted("api")
        self._refresh_config()
        key = next((k for k in self._by_hash.values() if k.id == key_id), None)
        if key is None or key.revoked_at_ms is not None or key.expired(self._clock.now_ms()):
            raise UnauthorizedError("the API key this session signed in with is no longer valid",
                                    hint="Sign in again with a valid key or the token.")
        return _principal(key)

    def due_for_flush(self) -> bool:
        """Whether unwritten last-used times are old enough to write now."""
        return bool(self._used) and (self._last_touch_ms is None or
                                     self._clock.now_ms() - self._last_touch_ms >= _TOUCH_EVERY_MS)

    async def flush(self) -> None:
        """Write last-used times (one transaction)."""
        used, self._used = self._used, {}
        self._last_touch_ms = self._clock.now_ms()
        if not used:
            return
        await self._repo.touch(used)
        for key_id, ms in used.items():
            if key_id in self._stored:
                self._stored[key_id] = replace(self._stored[key_id], last_used_at_ms=ms)
        self._rebuild()

    def watch(self, key_id: str, on_revoke: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_revoke`` when key ``key_id`` is revoked; returns the undo."""
        self._watchers.setdefault(key_id, set()).add(on_revoke)

        def unwatch() -> None:
            found = self._watchers.get(key_id)
            if found is not None:
                found.discard(on_revoke)
                if not found:
                    del self._watchers[key_id]

        return unwatch

    # --- managing --------------------------------------------------------------------------

    def listing(self) -> list[ApiKey]:
        """Config keys, then stored ones (revoked included), with pending last-used times."""
        self._refresh_config()
        keys = [*self._config_keys(), *self._stored.values()]
        return [replace(k, last_used_at_ms=self._used.get(k.id, k.last_used_at_ms)) for k in keys]

    async def create(self, *, name: str, scopes: list[str], agents: list[str] | None = None,
                     expires_at_ms: int | None = None) -> tuple[ApiKey, str]:
        """Make a key; the secret is returned here once and never stored."""
        self._check_new(name, scopes, agents, expires_at_ms)
        secret = new_secret()
        key = ApiKey(id=uuid7(), name=name, scopes=tuple(dict.fromkeys(scopes)),
                     agents=tuple(agents) if agents is not None else None,
                     hash=hash_secret(secret), prefix=secret[:_SHOWN],
                     created_at_ms=self._clock.now_ms(), expires_at_ms=expires_at_ms)
        await self._repo.add(key)
        self._stored[key.id] = key
        self._rebuild()
        log.info("API key %s created with scopes %s", name, ", ".join(key.scopes))
        return key, secret

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a stored key at once; its open streams end."""
        key = self._stored.get(key_id)
        if key is None:
            if any(k.id == key_id for k in self._config_keys()):
                raise ConflictError(f"API key {key_id} comes from the config file",
                                    code="key_in_config",
                                    hint="Remove it from auth.keys and restart the daemon.")
            raise NotFoundError(f"no API key {key_id}", hint="GET /auth/keys lists the keys.")
        if key.revoked_at_ms is None:
            now = self._clock.now_ms()
            await self._repo.revoke(key_id, now_ms=now)
            key = replace(key, revoked_at_ms=now)
            self._stored[key_id] = key
            self._rebuild()
        for on_revoke in list(self._watchers.pop(key_id, ())):
            on_revoke()
        return key

    # --- internals -------------------------------------------------------------------------

    def _check_new(self, name: str, scopes: list[str], agents: list[str] | None,
                   expires_at_ms: int | None) -> None:
        unknown = unknown_scopes(scopes)
        if unknown or not scopes:
            raise InvalidInputError(
                f"unknown scope(s) {', '.join(unknown)}" if unknown else "a key needs a scope",
                code="invalid_scope", hint=f"Scopes are: {', '.join(SCOPES)}.")
        self._refresh_config()
        if any(k.name == name for k in [*self._config_keys(), *self._stored.values()]):
            raise ConflictError(f"an API key named {name!r} exists already", code="key_exists",
                                hint="Choose another name, or revoke the old key first.")
        if agents is not None:
            missing = sorted(set(agents) - set(self._known_agents()))
            if missing or not agents:
                raise InvalidInputError(
                    f"unknown agent(s) {', '.join(missing)}" if missing
                    else "agents, when given, must name at least one agent",
                    code="unknown_agent", hint="GET /agents lists the agents.")
        if expires_at_ms is not None and expires_at_ms <= self._clock.now_ms():
            raise InvalidInputError("expires_at is in the past", code="invalid_expiry",
                                    hint="Give a future time, or none for a key that lasts.")

    def _config_keys(self) -> list[ApiKey]:
        config = self._config()
        return [ApiKey(id=f"config:{k.name}", name=k.name, scopes=tuple(k.scopes), hash=k.hash,
                       prefix="", created_at_ms=0, origin="config",
                       agents=tuple(k.agents) if k.agents is not None else None,
                       expires_at_ms=(int(k.expires_at.timestamp() * 1000)
                                      if k.expires_at is not None else None))
                for k in config.keys]

    def _refresh_config(self) -> None:
        if self._config() is not self._config_source:
            self._rebuild()

    def _rebuild(self) -> None:
        self._config_source = self._config()
        by_hash = {key.hash: key for key in self._stored.values()}
        by_hash.update({key.hash: key for key in self._config_keys()})
        self._by_hash = by_hash


def _principal(key: ApiKey) -> Principal:
    return Principal(key_id=key.id, name=key.name, scopes=frozenset(key.scopes),
                     agents=frozenset(key.agents) if key.agents is not None else None)
