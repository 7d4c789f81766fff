"""Per-route metadata read by the guards: public or not, needs the runtime, destructive, audited.

Declaring this beside each route (instead of lists elsewhere) keeps one check per concern while
letting a test enumerate every route and prove what each one demands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__aman_policy__"


@dataclass(frozen=True)
class RoutePolicy:
    """What a route requires and how it is audited."""

    public: bool = False
    needs_runtime: bool = True
    confirm: bool = False
    action: str | None = None
    target: str | None = None  # format string over the route's path parameters
    #: False for data-plane intake (event pushes, IM webhooks): each accepted event is already
    #: an append-only record in the event log with its trace, so only refusals are audited.
    audit: bool = True
    #: The scopes that open the route (any one of them); None: read for safe methods, else
    #: operate (see aman.auth.scopes).
    scopes: tuple[str, ...] | None = None

    def target_for(self, view_args: dict[str, Any] | None, path: str) -> str:
        """The audit target of one request."""
        if self.target is None:
            return path
        try:
            return self.target.format(**(view_args or {}))
        except (KeyError, IndexError):
            return self.target


DEFAULT_POLICY = RoutePolicy()


def policy(
    *,
    public: bool = False,
    needs_runtime: bool = True,
    confirm: bool = False,
    action: str | None = None,
    target: str | None = None,
    audit: bool = True,
    scopes: tuple[str, ...] | None = None,
) -> Callable[[F], F]:
    """Attach a ``RoutePolicy`` to a view function (put it below ``@bp.route``)."""
    spec = RoutePolicy(public, needs_runtime, confirm, action, target, audit, scopes)

    def decorator(func: F) -> F:
        setattr(func, _ATTRIBUTE, spec)
        return func

    return decorator


def policy_of(view: Callable[..., Any] | None) -> RoutePolicy:
    """The policy attached to ``view``, following functools.wraps chains."""
    while view is not None:
        found = getattr(view, _ATTRIBUTE, None)
        if isinstance(found, RoutePolicy):
            return found
        view = getattr(view, "__wrapped__", None)
    return DEFAULT_POLICY
