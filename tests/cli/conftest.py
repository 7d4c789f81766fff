"""The CLI tests' fixtures: the e2e launcher's daemons (``tests/e2e/fixtures.py``)."""

from tests.e2e.fixtures import (  # noqa: F401  (fixtures shared with the e2e tests)
    daemon,
    pytest_runtest_makereport,
    start_daemon,
    token_daemon,
)
