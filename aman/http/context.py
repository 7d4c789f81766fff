"""The one accessor routes use to reach the Runtime of the app serving them."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import current_app

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

RUNTIME_KEY = "aman.core.runtime"


def runtime() -> Runtime:
    """The Runtime of the current app."""
    return cast("Runtime", current_app.extensions[RUNTIME_KEY])
