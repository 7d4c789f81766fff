"""The contract suite's fixtures: every test runs once per backend registered in ``backends``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pg import pg_server
from tests.store.contract.backends import BACKENDS, Backend, Repositories

__all__ = ["pg_server", "store", "store_backend"]


@pytest.fixture(params=sorted(BACKENDS))
async def store_backend(request: pytest.FixtureRequest,
                        tmp_path: Path) -> AsyncIterator[Backend]:
    """Each registered backend in turn, on its own data; closed after the test."""
    backend = BACKENDS[request.param](tmp_path, request)
    yield backend
    await backend.close()


@pytest.fixture
async def store(store_backend: Backend) -> Repositories:
    """The repositories of a freshly opened, empty store."""
    return await store_backend.open()
