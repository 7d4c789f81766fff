"""Fixtures that build a real app on a temporary runtime dir and run its lifespan."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from aman.config.loader import load_settings
from aman.config.settings import Settings
from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.helpers import (
    DaemonGate,
    SettingsFactory,
    assert_daemon_allowed,
    is_daemon_command,
    runtime_of,
    unmarked_e2e,
    wait_for,
)


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


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """Default settings (no token)."""
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """A served app whose runtime has reached phase 5; stopped after the test."""
    application = create_app(settings)
    async with application.test_app():
        await wait_for(lambda: runtime_of(application).ready
                       or runtime_of(application).state.value == "failed", what="boot to end")
        yield application


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    """A test client of the served app."""
    return app.test_client()


@pytest.fixture
def runtime(app: Quart) -> Runtime:
    """The runtime behind ``app``."""
    return runtime_of(app)


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


# --- what only e2e tests may do --------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse to run when a test under tests/e2e lacks the e2e marker."""
    missing = unmarked_e2e(items)
    if missing:
        raise pytest.UsageError("tests under tests/e2e must be marked e2e "
                                "(pytestmark = pytest.mark.e2e): " + ", ".join(missing))


class _GuardedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """Popen that refuses to start the daemon unless the running test is marked e2e."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        if is_daemon_command(args):
            assert_daemon_allowed(args)
        super().__init__(args, *rest, **kwargs)


_REAL_POPEN = subprocess.Popen


def pytest_configure(config: pytest.Config) -> None:
    """Every process the tests start goes through the guard (asyncio's included)."""
    subprocess.Popen = _GuardedPopen  # type: ignore[misc]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the real Popen back."""
    subprocess.Popen = _REAL_POPEN  # type: ignore[misc]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test (module-scoped daemons included): may it start one?"""
    DaemonGate.allowed = item.get_closest_marker("e2e") is not None
