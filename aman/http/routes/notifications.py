"""Notifications: list, unread count, dismiss, acknowledge, dismiss all, and a test notification."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import Field, field_validator, model_validator
from quart import Blueprint, Response, g, jsonify

from aman.errors import ForbiddenError
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, JsonObject, QueryModel
from aman.http.validation import responds, validate_body, validate_query
from aman.notifications.model import Severity

bp = Blueprint("notifications", __name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Most notifications one page returns (larger requests are refused, not clamped, so a client
#: sees its mistake).
MAX_PAGE = 500


class NotificationTestDisabledError(ForbiddenError):
    """POST /notifications/test was called on a daemon that has an API token."""

    code = "test_notifications_disabled"
    hint = ("Test notifications are a development aid and work only when http.token is empty; "
            "on a daemon with a token, notifications come from events only.")


class NotificationListQuery(QueryModel):
    """Filters and paging of GET /notifications."""

    active_only: bool = Field(False, description="Only those neither acknowledged nor dismissed.")
    severity: Severity | None = Field(None, description="critical, warning or info.")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description=f"Items per page (1-{MAX_PAGE}).")
    offset: int = Field(0, ge=0, description="Items to skip, newest first.")


class NotificationTestRequest(BodyModel):
    """Body of POST /notifications/test; every field has a default."""

    severity: Severity = Severity.WARNING
    title: str = Field("Test notification", min_length=1, max_length=200)
    message: str = Field("This is a test notification from aman.", min_length=1, max_length=2000)
    action_label: str | None = Field(None, min_length=1, max_length=100)
    action_route: str | None = Field(None, min_length=1, max_length=500,
                                     description="A UI path starting with '/'.")

    @field_validator("action_route")
    @classmethod
    def _ui_path(cls, value: str | None) -> str | None:
        # The UI follows this link: only same-origin paths, never a URL or '//host'.
        if value is not None and (not value.startswith("/") or value.startswith("//")
                                  or any(c.isspace() for c in value)):
            raise ValueError("must be a path starting with a single '/' and without spaces")
        return value

    @model_validator(mode="after")
    def _label_needs_route(self) -> NotificationTestRequest:
        if self.action_label is not None and self.action_route is None:
            raise ValueError("action_label needs an action_route to point to")
        return self


def _only_without_token(func: F) -> F:
    """Refuse with 403 before reading the body when an API token is configured."""

    @wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if runtime().settings.token_configured:
            raise NotificationTestDisabledError(
                "POST /notifications/test is disabled because http.token is configured"
            )
        return await func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.get("/notifications")
@policy()
@validate_query(NotificationListQuery)
async def list_notifications(query: NotificationListQuery) -> Response:
    """Notifications newest first, with the unread count."""
    service = runtime().notifications
    items = await service.list(active_only=query.active_only, severity=query.severity,
                               limit=query.limit, offset=query.offset)
    return jsonify({"items": [n.to_json() for n in items],
                    "unread_count": await service.unread_count()})


@bp.get("/notifications/unread-count")
@policy()
async def unread_count() -> Response:
    """How many notifications are neither acknowledged nor dismissed."""
    return jsonify({"count": await runtime().notifications.unread_count()})


@bp.post("/notifications/<notification_id>/dismiss")
@policy(action="notification.dismiss", target="notification:{notification_id}")
async def dismiss(notification_id: str) -> Response:
    """Dismiss a warning or info; criticals answer 409 not_dismissible."""
    found = await runtime().notifications.dismiss(notification_id)
    g.audit_detail = {"severity": found.severity.value, "category": found.category}
    return jsonify(found.to_json())


@bp.post("/notifications/<notification_id>/ack")
@policy(action="notification.ack", target="notification:{notification_id}")
async def ack(notification_id: str) -> Response:
    """Acknowledge a notification of any severity."""
    found = await runtime().notifications.ack(notification_id)
    g.audit_detail = {"severity": found.severity.value, "category": found.category}
    return jsonify(found.to_json())


@bp.post("/notifications/dismiss-all")
@policy(action="notification.dismiss_all", target="notifications")
async def dismiss_all() -> Response:
    """Dismiss every active warning and info; criticals stay."""
    count = await runtime().notifications.dismiss_all()
    g.audit_detail = {"dismissed": count}
    return jsonify({"dismissed": count})


@bp.post("/notifications/test")
@policy(action="notification.test", target="notifications")
@responds(JsonObject, 201)
@_only_without_token
@validate_body(NotificationTestRequest)
async def create_test(body: NotificationTestRequest) -> Response:
    """Create a notification by hand (development only: refused when a token is configured)."""
    created = await runtime().notifications.create(
        severity=body.severity, category="test", title=body.title, message=body.message,
        action_route=body.action_route, action_label=body.action_label,
    )
    g.audit_detail = {"notification_id": created.id, "severity": created.severity.value}
    response = jsonify(created.to_json())
    response.status_code = 201
    return response
