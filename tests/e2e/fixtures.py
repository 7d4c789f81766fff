"""End-to-end fixtures: daemons started by ``tests/e2e/daemons.py`` and shown when a test fails.

The conftest of every folder whose tests drive the daemon (``tests/e2e``, ``tests/ui``) takes
them from here.

``start_daemon(token=None, extra_config=None, ...)`` launches one daemon (see ``launch_daemon``);
every daemon it started gets SIGTERM at teardown (kill -9 after 10 s). ``daemon`` and
``token_daemon`` are module-scoped daemons shared by tests that do not disturb each other. When a
test fails, the log of every daemon it used is shown with the failure (attached to the report for
shared daemons, printed at teardown for ``start_daemon`` ones).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import TEST_TOKEN, Daemon, StartDaemon, daemon_context, launch_daemon

# --- failure reporting -------------------------------------------------------------------------

_FAILED_KEY = pytest.StashKey[bool]()


def _shared_daemons_of(item: pytest.Item) -> list[Daemon]:
    """The module-scoped daemons a test used (``start_daemon`` prints its own at teardown)."""
    return [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Daemon)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log of every shared daemon a failed test used to its report."""
    report = yield
    if report.failed:
        item.stash[_FAILED_KEY] = True
        for daemon in _shared_daemons_of(item):
            try:
                report.sections.append((f"aman daemon log ({daemon.bind})", daemon.report()))
            except OSError as exc:
                report.sections.append((f"aman daemon log ({daemon.bind})", f"unreadable: {exc}"))
    return report


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def start_daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartDaemon]:
    """Factory: ``start_daemon(token=None, extra_config=None, home=None, port=None, wait=True)``."""
    started: list[Daemon] = []

    def start(**kwargs: Any) -> Daemon:
        daemon = launch_daemon(tmp_path / f"daemon{len(started)}", **kwargs)
        started.append(daemon)
        return daemon

    yield start
    failed = request.node.stash.get(_FAILED_KEY, False)
    for daemon in reversed(started):
        daemon.stop()
        if failed:
            print(daemon.report())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A default daemon without a token, shared by the module's tests that leave it ready."""
    with daemon_context(tmp_path_factory.mktemp("daemon")) as running:
        yield running


@pytest.fixture(scope="module")
def token_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with ``http.token`` set to ``TEST_TOKEN``, shared by the module's tests."""
    # Many of its tests send wrong tokens on purpose: the per-address refusal limit stays out of
    # their way (tests/e2e/test_keys.py proves the limit on a daemon of its own).
    with daemon_context(tmp_path_factory.mktemp("token_daemon"), token=TEST_TOKEN,
                        extra_config={"http": {"auth_failure_limit": 0}}) as running:
        yield running
