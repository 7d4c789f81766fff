"""A test plugin with one of every contribution; records its lifecycle calls."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from aman.events.sources import SourceState
from aman.plugins import PluginRequest, PluginResponse, PluginRoute, UiPage, hookimpl
from aman.tools.model import Sensitivity, Tool, ToolOutput

CALLS: list[str] = []


class Source:
    """A minimal EventSource."""

    type = "good_source"

    def __init__(self, source_id: str) -> None:
        self.id = source_id
        self.state = SourceState.STOPPED
        self.config: dict[str, Any] = {}

    async def start(self) -> None:
        self.state = SourceState.RUNNING

    async def stop(self) -> None:
        self.state = SourceState.STOPPED

    async def pause(self) -> None:
        self.state = SourceState.PAUSED

    async def resume(self) -> None:
        self.state = SourceState.RUNNING

    async def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "detail": ""}


async def echo(request: PluginRequest) -> PluginResponse:
    return PluginResponse({"params": dict(request.params), "body": request.json(),
                           "saw_token": "authorization" in {k.lower() for k in request.headers}},
                          status=201)


def boom(request: PluginRequest) -> Any:
    raise RuntimeError("handler exploded")


@hookimpl
def register_routes(context: Any) -> list[PluginRoute]:
    return [
        PluginRoute("GET", "/ping", lambda request: {"pong": True}),
        PluginRoute("GET", "/open", lambda request: {"open": True}, public=True),
        PluginRoute("POST", "/echo/<item>", echo),
        PluginRoute("GET", "/boom", boom),
    ]


@hookimpl
async def register_event_sources(context: Any) -> list[Source]:
    return [Source("good.source")]


@hookimpl
def register_event_types(context: Any) -> list[tuple[str, str]]:
    return [("good.happened", "Something good happened.")]


class _GoodParams(BaseModel):
    text: str = "hi"


async def _good_tool(params: _GoodParams, ctx: Any) -> ToolOutput:
    return ToolOutput(f"good: {params.text}")


@hookimpl
def register_tools(context: Any) -> list[Tool]:
    return [Tool("good_tool", "Echo a text.", _GoodParams, Sensitivity.LOW, _good_tool)]


@hookimpl
def register_ui_pages(context: Any) -> list[UiPage]:
    return [UiPage("good", "Good")]


@hookimpl
async def startup(context: Any) -> None:
    CALLS.append("startup")


@hookimpl
def shutdown(context: Any) -> None:
    CALLS.append("shutdown")
