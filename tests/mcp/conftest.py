"""MCP fixtures: the SDK HTTP servers and a served app with chosen ``mcp.servers``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.mcp.helpers import HttpServer, ServedApp, free_port


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A running SDK HTTP server; killed after the test."""
    server = HttpServer(free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
def sse_server() -> Iterator[HttpServer]:
    """A running SDK server on the SSE transport; killed after the test."""
    server = HttpServer(free_port(), sse=True)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def serve(make_settings: SettingsFactory) -> ServedApp:
    """``async with serve(servers) as (app, runtime)``: a ready app with these MCP servers."""

    @asynccontextmanager
    async def start(servers: dict[str, Any], **overrides: Any) -> AsyncIterator[tuple[Quart,
                                                                                       Runtime]]:
        app = create_app(make_settings(mcp__servers=servers, **overrides))
        # Stopping a stdio server that ignores its closed stdin takes seconds (then it is
        # killed); under load that can pass the test app's default of 6 s.
        async with app.test_app_class(app, startup_timeout=60, shutdown_timeout=60):
            runtime = runtime_of(app)
            await wait_for(lambda: runtime.ready or runtime.state.value == "failed", 30,
                           what="boot to end")
            yield app, runtime

    return start
