"""The real ``aman`` command as a subprocess against real daemons.

``aman(daemon, *args)`` runs ``python -m aman <args> --url <daemon>`` with a clean environment
and returns the finished process; ``aman_json`` also parses its stdout.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.e2e.daemons import REPO_ROOT, Daemon, aman_command, clean_env

TIMEOUT_SEC = 60.0


def run(*args: str, stdin: str | None = None, timeout: float = TIMEOUT_SEC,
        **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m aman <args>`` to completion, without AMAN_* variables unless given."""
    return subprocess.run(aman_command(*args), cwd=REPO_ROOT, env=clean_env(**env),
                          input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)


def aman(target: Daemon, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command against ``target`` (its URL, and its token when it has one)."""
    extra = ["--url", target.base_url] + (["--token", target.token] if target.token else [])
    return run(*args, *extra, **kwargs)


def aman_json(target: Daemon, *args: str, **kwargs: Any) -> Any:
    """Run a command with ``--json``; assert it succeeded and return the parsed output."""
    result = aman(target, *args, "--json", **kwargs)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)
