"""A test plugin (a package) implementing a misspelled hook."""

from typing import Any

from aman.plugins import hookimpl


@hookimpl
def register_routez(context: Any) -> list[Any]:
    return []
