"""Plugin values: what hooks return and route handlers see (routes, requests, responses, pages),
and what is stored about plugins (the enabled/disabled choice, behind a storage port).

Plain dataclasses, importing nothing of the daemon, so the hookspecs, the host and the HTTP
dispatcher can all use them without importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["PluginRequest", "PluginResponse", "PluginRoute", "PluginStateRepository", "UiPage"]

ROUTE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, kw_only=True)
class PluginRequest:
    """One request to a plugin route, as the handler sees it."""

    plugin: str
    method: str
    path: str  # below /api/v1/<plugin>, starting with "/"
    params: Mapping[str, str] = field(default_factory=dict)  # path parameters of the route
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class PluginResponse:
    """A response with a status other than 200 or extra headers; ``body`` is JSON-serialised."""

    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[PluginRequest], "Any | Awaitable[Any]"]


@dataclass(frozen=True)
class PluginRoute:
    """A route served at ``/api/v1/<plugin><path>``.

    ``path`` starts with ``/`` and may hold werkzeug-style parameters (``/items/<item_id>``).
    Every route needs the API token unless ``public`` is true.
    """

    method: str
    path: str
    handler: Handler
    public: bool = False

    def __post_init__(self) -> None:
        if self.method.upper() not in ROUTE_METHODS:
            raise ValueError(f"route method {self.method!r} is not one of {sorted(ROUTE_METHODS)}")
        if not self.path.startswith("/"):
            raise ValueError(f"route path {self.path!r} must start with '/'")
        object.__setattr__(self, "method", self.method.upper())


@dataclass(frozen=True)
class UiPage:
    """A page the desktop UI may show: ``id``, a human ``label`` and an optional ``path``."""

    id: str
    label: str
    path: str | None = None


class PluginStateRepository(Protocol):
    """Storage port for the operator's enabled/disabled choice per plugin."""

    async def all(self) -> dict[str, bool]:
        """Plugin name → enabled, for every plugin with a stored choice."""
        ...

    async def set(self, name: str, enabled: bool, *, now_ms: int) -> None:
        """Store the choice for ``name`` (replacing an earlier one), committed."""
        ...

    async def forget(self, name: str) -> None:
        """Drop the stored choice for ``name``; forgetting an unknown name changes nothing."""
        ...
