"""A served app whose skills come from one temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.helpers import SettingsFactory, runtime_of, wait_for


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    path = tmp_path / "skills"
    path.mkdir()
    return path


@pytest.fixture
async def skills_app(make_settings: SettingsFactory, skills_dir: Path) -> AsyncIterator[Quart]:
    application = create_app(make_settings(**{"skills.dirs": [str(skills_dir)]}))
    async with application.test_app():
        rt = runtime_of(application)
        await wait_for(lambda: rt.ready and rt.skills.watcher.armed.is_set(),
                       what="boot and an armed skill watch")
        yield application


@pytest.fixture
async def skills_runtime(skills_app: Quart) -> Runtime:
    """The runtime without its folder watcher, so reload counts are deterministic."""
    rt = runtime_of(skills_app)
    await rt.skills.watcher.stop()
    return rt
