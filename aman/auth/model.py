"""API keys and the principal a request acts as; pure values (what the store returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Every scope, with the routes it opens (the table served in docs/auth.md and /openapi.json).
SCOPES: dict[str, str] = {
    "read": "GET routes (except keys) and the event stream with payloads",
    "events:push": "event intake (POST /events/push) and the generic IM webhook",
    "chat": "chat sessions, the OpenAI-compatible /v1, and answering approvals of its sessions",
    "operate": ("DLQ, workflows, cron, skills, plugins, souls, memory, live config and the rest of "
                "the routes that change state; includes read"),
    "admin": "API keys and everything else",
}
ADMIN = "admin"
#: The name the bootstrap key (``http.token``) acts under in the audit log.
BOOTSTRAP_NAME = "http.token"


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A stored or configured key: never its secret, only the secret's SHA-256."""

    id: str
    name: str
    scopes: tuple[str, ...]
    hash: str  # "sha256:<hex>"
    prefix: str  # the first characters of the secret, to recognise it in lists
    created_at_ms: int
    agents: tuple[str, ...] | None = None  # None: every agent
    expires_at_ms: int | None = None
    revoked_at_ms: int | None = None
    last_used_at_ms: int | None = None
    origin: str = "api"  # "api" (POST /auth/keys) or "config" (auth.keys)

    def expired(self, now_ms: int) -> bool:
        """Whether the key's expiry has passed."""
        return self.expires_at_ms is not None and now_ms >= self.expires_at_ms

    def to_json(self) -> dict[str, Any]:
        """The listing shape: everything but the hash."""
        return {
            "id": self.id, "name": self.name, "scopes": list(self.scopes),
            "agents": list(self.agents) if self.agents is not None else None,
            "prefix": self.prefix, "origin": self.origin, "created_at": self.created_at_ms,
            "expires_at": self.expires_at_ms, "last_used_at": self.last_used_at_ms,
            "revoked_at": self.revoked_at_ms,
        }


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who a request acts as: a key's name, scopes and agent limit (``None``: all agents)."""

    key_id: str | None
    name: str
    scopes: frozenset[str]
    agents: frozenset[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def may_use_agent(self, agent_id: str) -> bool:
        """Whether this principal's chat and memory may reach ``agent_id``."""
        return self.agents is None or agent_id in self.agents


#: Acting as everything: the bootstrap token, or any request while authentication is off.
def unrestricted(name: str) -> Principal:
    """A principal with the admin scope and every agent."""
    return Principal(key_id=None, name=name, scopes=frozenset({ADMIN}))
