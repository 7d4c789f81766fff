"""A test plugin contributing a folder of skills."""

from typing import Any

from aman.plugins import hookimpl


@hookimpl
def register_skill_folders(context: Any) -> list[str]:
    return ["skills"]
