"""The e2e fixtures (``tests/e2e/fixtures.py``) for the tests in this folder."""

from tests.e2e.fixtures import (  # noqa: F401 (fixtures and the failure-log hook, registered here)
    daemon,
    pytest_runtest_makereport,
    start_daemon,
    token_daemon,
)
