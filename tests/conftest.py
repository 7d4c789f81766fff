"""Fixtures that build a real app on a temporary runtime dir and run its lifespan."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from aman.config.loader import load_settings
from aman.config.settings import Settings
from aman.core.app import create_app
from aman.core.runtime import Runtime

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """An empty runtime dir for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(runtime_dir: Path) -> SettingsFactory:
    """Settings from the shipped config with dotted overrides; the test's env is ignored."""

    def build(**overrides: Any) -> Settings:
        dotted = {"runtime.dir": str(runtime_dir)}
        dotted.update({key.replace("__", "."): value for key, value in overrides.items()})
        return load_settings(env={}, overrides=dotted)

    return build


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` on the loop until true; fail the test on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met within timeout")
        await asyncio.sleep(0.005)


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """Default settings (no token)."""
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """A served app whose runtime has reached phase 5; stopped after the test."""
    application = create_app(settings)
    async with application.test_app():
        await wait_until(lambda: runtime_of(application).ready
                         or runtime_of(application).state.value == "failed")
        yield application


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    """A test client of the served app."""
    return app.test_client()


@pytest.fixture
def runtime(app: Quart) -> Runtime:
    """The runtime behind ``app``."""
    return runtime_of(app)


def runtime_of(app: Quart) -> Runtime:
    """The runtime behind any app built by create_app."""
    rt: Runtime = app.extensions["aman.core.runtime"]
    return rt


@pytest.fixture(autouse=True)
def no_leaked_connections() -> Iterator[None]:
    """Every test closes the databases it opened (an open aiosqlite thread hangs the exit)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = []
    for thread in threading.enumerate():
        if thread.ident not in before and "_connection_worker_thread" in thread.name:
            thread.join(timeout=2)  # a closed connection's thread ends a moment after close
            if thread.is_alive():
                leaked.append(thread.name)
    assert not leaked, f"database connections left open: {leaked}"
