"""Browser fixtures: Debian's chromium driven by Playwright, against the real daemon.

``browser`` is one chromium per module (a missing binary fails with the command that installs
it). ``open_console(daemon, ...)`` opens a page on the daemon's ``/ui/``, signs in when the daemon
has a token, and records every request the page makes: at teardown each one must have gone to
the daemon (or be ``data:``), and the page must have thrown no uncaught error.
``shoot(page, name)`` (``tests/ui/console.py``) saves a screenshot for the README.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.daemons import Daemon
from tests.e2e.fixtures import (  # noqa: F401 (the daemon fixtures and failure logs, here too)
    daemon,
    pytest_runtest_makereport,
    start_daemon,
)
from tests.ui.console import CHROMIUM, WAIT_MS, OpenConsole, sign_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for the module."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        pytest.fail(f"no chromium at {CHROMIUM}: the console's browser tests need Debian's "
                    "chromium. Install it with `apt-get install -y chromium` (scripts/test does "
                    "this when run as root), or point AMAN_TEST_CHROMIUM at a chromium binary.",
                    pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path,
                                              args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_console(browser: Browser) -> Iterator[OpenConsole]:
    """Factory: ``open_console(daemon, path="#/chat", width=1280, height=800, sign_in=True)``."""
    opened: list[tuple[Any, Daemon, list[str], list[str]]] = []

    def open_page(target: Daemon, path: str = "#/chat", *, width: int = 1280, height: int = 800,
                  signed_in: bool = True, color_scheme: str = "light") -> Page:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      color_scheme=color_scheme)  # type: ignore[arg-type]
        requests: list[str] = []
        errors: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: errors.append(str(error)))
        opened.append((context, target, requests, errors))
        page.goto(f"{target.base_url}/ui/{path}")
        if signed_in and target.token:
            sign_in(page, target.token)
        if signed_in:
            page.wait_for_selector("body[data-ready=yes]")
        return page

    yield open_page
    for context, served, requests, errors in opened:
        context.close()
        host = urlsplit(served.base_url).netloc
        elsewhere = [url for url in requests
                     if not url.startswith("data:") and urlsplit(url).netloc != host]
        assert elsewhere == [], f"the console reached beyond the daemon: {elsewhere}"
        assert requests, "the page made no request at all"
        assert errors == [], f"uncaught errors in the page: {errors}"
