"""What the browser tests share besides fixtures: the chromium to drive, sign-in
and screenshots for docs/console/."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.daemons import REPO_ROOT

CHROMIUM = os.environ.get("AMAN_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "docs" / "console"
#: Generous: the machine running the suite may be busy.
WAIT_MS = 15_000

OpenConsole = Callable[..., Page]
expect.set_options(timeout=WAIT_MS)


def sign_in(page: Page, token: str) -> None:
    """Answer the sign-in dialog."""
    page.locator("#signin-token").fill(token)
    page.locator("#signin-ok").click()


def shoot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot for docs/console/ (and the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
