"""A test plugin whose registration hook raises."""

from typing import Any

from aman.plugins import hookimpl


@hookimpl
def register_routes(context: Any) -> list[Any]:
    raise RuntimeError("register_routes exploded on purpose")
