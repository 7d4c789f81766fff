"""The console ships inside the package: every file under aman/ui/static is package data."""

from __future__ import annotations

import tomllib

from aman.ui import STATIC_DIR
from tests.e2e.daemons import REPO_ROOT


def test_every_static_file_is_installed_with_the_package() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["aman.ui"]
    package = STATIC_DIR.parent
    installed = {p for pattern in patterns for p in package.glob(pattern)}
    present = {p for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert present, "no console files found"
    assert present - installed == set(), "files a wheel would leave out (add them to package-data)"
