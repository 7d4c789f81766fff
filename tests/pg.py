"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temporary folder, 127.0.0.1 only.

The server belongs to the test session (started on first use, stopped at the end); each test
gets a database of its own, cloned from an empty template. The server itself is
``tests/pgserver.py`` (the benchmarks start theirs with it too); a missing server fails the test
with the fix in the message (it is never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer, ServerUnavailable, temporary_server

__all__ = ["PgServer", "pg_server"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, in a temporary folder, stopped at the end."""
    try:
        with temporary_server() as server:
            yield server
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
