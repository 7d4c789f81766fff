"""The OpenAPI document tells the truth: Schemathesis generates requests from ``/openapi.json``
and sends them to a real daemon; every answer must be documented (status, content type, body
schema), schema-valid requests accepted and schema-violating ones refused.

Excluded: ``POST /agent/shutdown`` (it stops the daemon under test), the two event streams (they
never end), and ``POST /tools/{name}/execute`` (a generated call could make the daemon fetch or
run whatever was generated; tests talk to loopback only). Rejections the document cannot express
(unknown references, cross-field rules) are listed in ``schemathesis.toml`` beside this file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.daemons import TEST_TOKEN, StartDaemon

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: Examples per operation and phase: bounded, so the run takes minutes, not hours.
MAX_EXAMPLES = 5
EXCLUDED = (r"^/(agent/shutdown|events/stream|chat/session/\{session_id\}/stream"
            r"|tools/\{name\}/execute)$")


def test_generated_requests_match_the_document(start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config={
        "llm": {"default_provider": "s",
                "providers": {"s": {"kind": "scripted", "replies": ["ok"]}}},
        # Generated requests without credentials must not get the test's own address blocked.
        "http": {"auth_failure_limit": 0},
        "event_bus": {"rate_limit_per_sec": 100000, "rate_limit_burst": 100000}})
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert command is not None, "schemathesis is missing: pip install -e '.[dev]'"
    result = subprocess.run(
        [command, "--config-file", str(CONFIG), "run", f"{daemon.base_url}/openapi.json",
         "--max-examples", str(MAX_EXAMPLES), "--checks", "all",
         "--header", f"Authorization: Bearer {TEST_TOKEN}",
         "--exclude-path-regex", EXCLUDED, "--workers", "2", "--request-timeout", "30",
         "--suppress-health-check", "all", "--continue-on-failure", "--warnings", "off",
         "--seed", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-2000:]
