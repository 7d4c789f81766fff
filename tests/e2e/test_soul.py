"""The soul through the real daemon: update round trip with history, refused updates, disk edits."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.daemons import REPO_ROOT, Daemon
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

NEW_SOUL = """# Nova
## identity
A tidy helper for a small flat.
## core
Quiet, exact.
## boundaries
- never open the garage
## Household
Two cats.
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()



@pytest.fixture
def soul_daemon(start_daemon: Callable[..., Daemon], tmp_path: Path) -> tuple[Daemon, Path]:
    folder = tmp_path / "souls"
    folder.mkdir()
    shutil.copy(REPO_ROOT / "souls" / "default.md", folder / "default.md")
    return start_daemon(extra_config={"souls": {"dirs": [str(folder)]}}), folder / "default.md"


def test_soul_round_trips_through_update_with_history(soul_daemon: tuple[Daemon, Path]) -> None:
    daemon, path = soul_daemon
    http = daemon.client
    original = path.read_text(encoding="utf-8")
    assert http.get("/soul/info").json()["name"] == "Aman"

    response = http.post("/soul/update", json={"content": NEW_SOUL},
                         headers={"x-aman-operator": "e2e"})
    assert response.status_code == 200, response.text
    assert http.get("/soul/raw").json()["content"] == NEW_SOUL
    assert path.read_text(encoding="utf-8") == NEW_SOUL
    info = http.get("/soul/info").json()
    assert info["name"] == "Nova" and info["boundaries_count"] == 1
    prompt = http.get("/soul/system-prompt").json()["prompt"]
    assert prompt.startswith("You are Nova.") and "## Household\nTwo cats." in prompt
    versions = http.get("/soul/versions").json()["items"]
    assert [v["hash"] for v in versions] == [sha(NEW_SOUL), sha(original)]
    assert versions[0]["operator"] == "e2e"

    # Back to the original through the same route: a third version, content identical.
    assert http.post("/soul/update", json={"content": original}).status_code == 200
    assert http.get("/soul/raw").json()["content"] == original
    assert [v["hash"] for v in http.get("/soul/versions").json()["items"]] == [
        sha(original), sha(NEW_SOUL), sha(original)]

    audit = http.get("/audit-log", params={"action": "soul.update"}).json()["items"]
    assert [(a["operator"], a["detail"]["new_hash"]) for a in audit if a["outcome"] == "ok"] == [
        ("api", sha(original)), ("e2e", sha(NEW_SOUL))]
    assert all(a["target"] == "soul:default" for a in audit)


def test_bad_update_is_400_and_nothing_changes(soul_daemon: tuple[Daemon, Path]) -> None:
    daemon, path = soul_daemon
    http = daemon.client
    before = http.get("/soul/raw").json()
    for body, where in [({"content": "# Nova\n##identity\nx\n"}, "line 2"),
                        ({"content": "no title here"}, "body.content"),
                        ({"text": "x"}, "body.content")]:
        response = http.post("/soul/update", json=body)
        assert response.status_code == 400, response.text
        assert where in response.json()["error"]["message"]
    assert http.get("/soul/raw").json() == before
    assert path.read_text(encoding="utf-8") == before["content"]
    assert len(http.get("/soul/versions").json()["items"]) == 1
    refused = http.get("/audit-log", params={"action": "soul.update"}).json()["items"]
    assert refused and {a["outcome"] for a in refused} == {"rejected"}


def test_edit_on_disk_reloads_and_a_broken_edit_keeps_the_last_good_soul(
    soul_daemon: tuple[Daemon, Path],
) -> None:
    daemon, path = soul_daemon
    http = daemon.client
    daemon.wait_watching(path.parent)
    path.write_text(NEW_SOUL, encoding="utf-8")
    wait_for_sync(lambda: http.get("/soul/info").json()["name"] == "Nova")
    path.write_text("# Nova\n## identity\nok\n##broken\n", encoding="utf-8")
    error = wait_for_sync(lambda: http.get("/soul/info").json()["error"])
    assert error["line"] == 4 and error["path"] == str(path)
    assert http.get("/soul/raw").json()["content"] == NEW_SOUL
    assert http.get("/health/ready").status_code == 200
