"""A test plugin registering a source id that the plugin ``good`` already holds."""

from typing import Any

from aman.plugin_api import hookimpl  # the first name of the author API still works


class Source:
    id = "good.source"
    type = "dup"
    state = None
    config: dict[str, Any] = {}

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def health(self) -> dict[str, Any]:
        return {"status": "ok"}


@hookimpl
def register_event_sources(context: Any) -> list[Any]:
    return [Source()]
