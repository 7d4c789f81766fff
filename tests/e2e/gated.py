"""The gated sample plugin (``tests/plugins/gated``) for e2e tests: its handler for exactly-once
``gated.work`` events notes each run in a file, then waits until its gate opens, so a test can
kill a daemon while the handler runs and count how often it ran."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.e2e.daemons import REPO_ROOT, Daemon


class Gated:
    """The plugin copied into a plugin folder, and the folder its handler notes runs in."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "gated"
        self.folder.mkdir()
        plugins = tmp_path / "sample_plugins"
        shutil.copytree(REPO_ROOT / "tests" / "plugins" / "gated", plugins / "gated")
        self.config: dict[str, Any] = {"plugins": {
            "dirs": [str(plugins)], "config": {"gated": {"folder": str(self.folder)}}}}

    def runs(self) -> list[str]:
        """The event ids the handler started on, one per run."""
        log = self.folder / "runs.log"
        return log.read_text().split() if log.exists() else []

    def open(self) -> None:
        """Open the gate for the daemons started from now on: their runs finish at once."""
        (self.folder / "open").touch()

    @staticmethod
    def open_on(daemon: Daemon) -> None:
        """Open the gate on a running daemon: its runs waiting, and any later one, finish."""
        assert daemon.client.post("/api/v1/gated/open").json() == {"open": True}


#: The plugin's subscriber, as deliveries and DLQ entries name it.
HANDLER = "plugin:gated:gate"
#: What a push of one exactly-once event for the plugin sends.
PUSH = {"source": "test:once", "type": "gated.work", "delivery": "exactly_once"}
