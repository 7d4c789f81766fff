"""The contract suite's fixtures: every test runs once per backend registered in ``backends``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pg import pg_server
from tests.store.contract.backends import BACKENDS, Backend, NotYetImplementedError, Repositories

__all__ = ["pg_server", "store", "store_backend"]


@pytest.fixture(params=sorted(BACKENDS))
async def store_backend(request: pytest.FixtureRequest,
                        tmp_path: Path) -> AsyncIterator[Backend]:
    """Each registered backend in turn, on its own data; closed after the test.

    A test of a repository the backend does not have yet is expected to fail with
    ``NotYetImplementedError`` (strictly: it must not pass unnoticed).
    """
    backend = BACKENDS[request.param](tmp_path, request)
    repository = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    if repository in backend.missing:
        request.applymarker(pytest.mark.xfail(
            raises=NotYetImplementedError, strict=True,
            reason=f"the {repository} repository is not implemented on {request.param} yet"))
    yield backend
    await backend.close()


@pytest.fixture
async def store(store_backend: Backend) -> Repositories:
    """The repositories of a freshly opened, empty store."""
    return await store_backend.open()
