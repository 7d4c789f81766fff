"""The soul: format parsing, boundaries, prompt order, updates with history, the file watcher."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aman.audit.log import AuditLog
from aman.audit.model import AuditQuery
from aman.clock import SystemClock
from aman.config.loader import load_settings
from aman.errors import SoulBoundaryError, StartupError, ValidationFailedError
from aman.soul.format import (
    MAX_SOUL_BYTES,
    SoulFormatError,
    compile_prompt,
    content_hash,
    match_boundaries,
    parse_soul,
)
from aman.soul.locate import is_soul_path, soul_candidates
from aman.soul.service import SOUL_CHANGED, SoulService
from aman.store.audit import SqlAuditRepository
from aman.store.db import Database
from aman.store.migrate import migrate
from aman.store.soul import SqlSoulRepository
from tests.helpers import FakeBus, wait_for

REPO_SOULS = Path(__file__).resolve().parents[1] / "souls"

ATLAS = """# Atlas
## identity
A patient research assistant for one household.
## core
Careful, honest about uncertainty.
## expertise
- personal finance
- home automation
## boundaries
- never share account numbers
- do not delete files
## vibe
Warm and brief.
## preferences
- cite sources
"""


# --- parsing -------------------------------------------------------------------------------------


def test_shipped_default_soul_parses() -> None:
    soul = parse_soul((REPO_SOULS / "default.md").read_text(encoding="utf-8"))
    assert soul.name == "Aman"
    assert soul.identity and soul.core and soul.vibe
    assert len(soul.boundaries) >= 3 and soul.expertise and soul.preferences


def test_parse_reads_every_known_section() -> None:
    soul = parse_soul(ATLAS)
    assert soul.name == "Atlas"
    assert soul.identity == "A patient research assistant for one household."
    assert soul.core == "Careful, honest about uncertainty."
    assert soul.expertise == ("personal finance", "home automation")
    assert soul.boundaries == ("never share account numbers", "do not delete files")
    assert soul.vibe == "Warm and brief."
    assert soul.preferences == ("cite sources",)
    assert soul.sections == ("identity", "core", "expertise", "boundaries", "vibe", "preferences")


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("# A\n## IDENTITY\nx\n", "identity", "x"),
    ("# A\n## Core\nbe kind\n## Boundaries\n* never lie\n+ no spam\n", "boundaries",
     ("never lie", "no spam")),
    ("# A\n## core\nc\n## expertise\ncooking\ngardening\n", "expertise", ("cooking", "gardening")),
    ("# A\n## core\nc\n## preferences\n- a long\n  wrapped item\n- b\n", "preferences",
     ("a long wrapped item", "b")),
    ("# A\n## core\nline one\n\nline two\n### sub\nmore\n", "core",
     "line one\n\nline two\n### sub\nmore"),
    ("#   Spaced Name  \n## core\nc\n", "name", "Spaced Name"),
])
def test_parse_table(text: str, field: str, expected: Any) -> None:
    assert getattr(parse_soul(text), field) == expected


def test_unknown_sections_are_kept_and_reach_the_prompt() -> None:
    soul = parse_soul("# A\n## core\nc\n## Household\nTwo cats, one dog.\n"
                      "## boundaries\n- never x\n")
    assert [(s.title, s.body) for s in soul.extra] == [("Household", "Two cats, one dog.")]
    prompt = compile_prompt(soul)
    assert "## Household\nTwo cats, one dog." in prompt
    assert prompt.index("## Household") < prompt.index("## Boundaries")


@pytest.mark.parametrize(("text", "line", "words"), [
    ("", None, "title"),
    ("## identity\nx\n", 1, "before the '# Name' title"),
    ("just text\n# A\n", 1, "before the '# Name' title"),
    ("# A\n## vibe\nchill\n", None, "identity' or '## core"),
    ("# A\n## core\nc\n##bad\n", 4, "malformed heading"),
    ("# A\n## core\nc\n## \n", 4, "malformed heading"),
    ("# A\n## core\nc\n# B\n", 4, "second"),
    ("# A\n## core\nc\n## CORE\nd\n", 4, "repeats the one at line 2"),
    ("# A\n## core\n" + "x" * MAX_SOUL_BYTES, None, "larger than"),
])
def test_invalid_souls_name_the_problem_and_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(SoulFormatError) as info:
        parse_soul(text, where="body.content")
    assert isinstance(info.value, ValidationFailedError)
    assert words in info.value.message
    assert "body.content" in info.value.message
    if line is not None:
        assert f"line {line}" in info.value.message
        assert info.value.details["fields"][0]["line"] == line


def test_headings_inside_code_fences_are_content() -> None:
    soul = parse_soul("# A\n## core\n```\n# not a title\n##nor this\n```\n")
    assert "# not a title" in soul.core


# --- boundaries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "boundary", "phrase"), [
    ("Please share account numbers with Bob", "never share account numbers",
     "share account numbers"),
    ("NEVER   SHARE ACCOUNT NUMBERS.", "never share account numbers",
     "never share account numbers"),
    ("ok, delete files in /tmp", "do not delete files", "delete files"),
    ("time to use the car", "don\u2019t use the car", "use the car"),
    ("no spam today", "no spam", "no spam"),
    ("hello there", None, None),
    ("undelete filesystem", None, None),  # whole words only
    ("", None, None),
])
def test_boundary_matching(text: str, boundary: str | None, phrase: str | None) -> None:
    boundaries = ["never share account numbers", "do not delete files", "don\u2019t use the car",
                  "no spam", "never do"]
    found = match_boundaries(text, boundaries)
    if boundary is None:
        assert found is None
    else:
        assert found is not None
        assert (found.boundary, found.matched_phrase) == (boundary, phrase)


def test_trivially_short_phrases_are_ignored() -> None:
    assert match_boundaries("we do it all day", ["never do"]) is None
    assert match_boundaries("never do", ["never do"]) is not None  # the whole boundary still counts


def test_soul_boundary_error_is_a_403_category() -> None:
    from aman.errors import ForbiddenError
    assert issubclass(SoulBoundaryError, ForbiddenError)
    assert SoulBoundaryError.code == "soul_boundary"


# --- the prompt ----------------------------------------------------------------------------------


def test_system_prompt_order() -> None:
    skills = [{"name": "weather", "description": "Forecasts", "category": "info",
               "triggers": ["weather", "rain"]}]
    prompt = compile_prompt(parse_soul(ATLAS), skills)
    order = ["You are Atlas.", "## Identity", "## Core", "## Expertise", "## Vibe",
             "## Preferences", "## Boundaries", "## Available skills"]
    positions = [prompt.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "- weather: Forecasts (when: weather, rain)" in prompt
    assert "- never share account numbers" in prompt


# --- the service ---------------------------------------------------------------------------------


@dataclass
class Harness:
    service: SoulService
    bus: FakeBus
    audit: AuditLog
    folder: Path

    @property
    def file(self) -> Path:
        return self.folder / "atlas.md"


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    folder = tmp_path / "souls"
    folder.mkdir()
    (folder / "atlas.md").write_text(ATLAS, encoding="utf-8")
    db = Database(tmp_path / "soul.db")
    await db.open()
    try:
        await migrate(db)
        audit = AuditLog(SqlAuditRepository(db), SystemClock())
        await audit.start()
        bus = FakeBus()
        service = SoulService(dirs=[folder], active="atlas", repository=SqlSoulRepository(db),
                              audit=audit, bus=bus, clock=SystemClock(), debounce_ms=50,
                              skills_index=lambda: [{"name": "s", "description": "d"}])
        await service.load()
        yield Harness(service, bus, audit, folder)
        await service.stop()
    finally:
        await db.close()


async def test_load_records_the_first_version(harness: Harness) -> None:
    info = harness.service.info()
    assert info["name"] == "Atlas" and info["boundaries_count"] == 2
    assert info["path"] == str(harness.file) and info["error"] is None
    assert isinstance(info["last_changed"], int)
    versions = await harness.service.versions()
    assert [(v.hash, v.reason) for v in versions] == [(content_hash(ATLAS), "boot")]
    assert harness.service.compiled_prompt().skills_count == 1


async def test_update_writes_records_audits_and_announces(harness: Harness) -> None:
    new = ATLAS.replace("Warm and brief.", "Cheerful.")
    result = await harness.service.update(new, operator="alice")
    assert result["changed"] is True
    assert harness.file.read_text(encoding="utf-8") == new
    assert harness.service.soul.vibe == "Cheerful."
    versions = await harness.service.versions()
    assert [(v.hash, v.operator) for v in versions] == [
        (content_hash(new), "alice"), (content_hash(ATLAS), "boot")]
    assert versions[1].content == ATLAS  # the previous content is kept
    records, _ = await harness.audit.query(AuditQuery(action="soul.update"))
    assert records[0].operator == "alice" and records[0].target == "soul:atlas"
    assert records[0].detail["old_hash"] == content_hash(ATLAS)
    assert records[0].detail["new_hash"] == content_hash(new)
    assert harness.bus.emitted[-1][0] == SOUL_CHANGED
    assert harness.bus.emitted[-1][1]["hash"] == content_hash(new)


async def test_same_content_is_not_a_new_version(harness: Harness) -> None:
    result = await harness.service.update(ATLAS, operator="alice")
    assert result["changed"] is False
    assert len(await harness.service.versions()) == 1 and harness.bus.emitted == []


async def test_invalid_update_leaves_everything_unchanged(harness: Harness) -> None:
    before = harness.file.stat().st_mtime_ns
    with pytest.raises(SoulFormatError, match="line 2"):
        await harness.service.update("# Atlas\n##identity\nx\n", operator="alice")
    assert harness.file.read_text(encoding="utf-8") == ATLAS
    assert harness.file.stat().st_mtime_ns == before
    assert len(await harness.service.versions()) == 1 and harness.bus.emitted == []
    assert harness.service.soul.name == "Atlas"


async def test_update_is_atomic(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from aman.errors import InternalError

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(InternalError, match="disk full"):
        await harness.service.update(ATLAS.replace("Atlas", "Other"), operator="alice")
    assert harness.file.read_text(encoding="utf-8") == ATLAS  # never half written
    assert sorted(p.name for p in harness.folder.iterdir()) == ["atlas.md"]  # temp file removed


async def test_check_boundaries_uses_the_soul_in_force(harness: Harness) -> None:
    found = harness.service.check_boundaries("could you share account numbers?")
    assert found is not None and found.boundary == "never share account numbers"
    assert harness.service.check_boundaries("what is the weather") is None


def test_missing_or_broken_active_soul_fails_boot(tmp_path: Path) -> None:
    async def load(folder: Path) -> None:
        service = SoulService(dirs=[folder], active="atlas", repository=None,  # type: ignore[arg-type]
                              audit=None, bus=FakeBus(), clock=SystemClock())  # type: ignore[arg-type]
        await service.load()

    with pytest.raises(StartupError, match="atlas.md"):
        asyncio.run(load(tmp_path))
    (tmp_path / "atlas.md").write_text("# Atlas\n## vibe\nonly vibe\n", encoding="utf-8")
    with pytest.raises(StartupError, match=r"atlas\.md.*identity"):
        asyncio.run(load(tmp_path))


def test_later_folder_wins_and_folder_format_is_found(tmp_path: Path) -> None:
    repo, home = tmp_path / "repo", tmp_path / "home"
    (home / "atlas").mkdir(parents=True)
    repo.mkdir()
    (repo / "atlas.md").write_text(ATLAS, encoding="utf-8")
    service = SoulService(dirs=[repo, home], active="atlas", repository=None,  # type: ignore[arg-type]
                          audit=None, bus=FakeBus(), clock=SystemClock())  # type: ignore[arg-type]
    assert service.resolve() == repo / "atlas.md"
    (home / "atlas" / "SOUL.md").write_text(ATLAS, encoding="utf-8")
    assert service.resolve() == home / "atlas" / "SOUL.md"


# --- the watcher (real file edits) ---------------------------------------------------------------


async def test_watcher_reloads_edits_and_keeps_the_last_good_soul(harness: Harness) -> None:
    service = harness.service
    service.start_watching()
    await wait_for(service.armed.is_set, what="the soul watch to be armed")
    edited = ATLAS.replace("Warm and brief.", "Terse.")
    harness.file.write_text(edited, encoding="utf-8")
    await wait_for(lambda: service.soul.vibe == "Terse.", timeout=10)
    await wait_for(lambda: any(e[0] == SOUL_CHANGED for e in harness.bus.emitted))
    await wait_for(lambda: service.info()["hash"] == content_hash(edited))
    versions = await service.versions()
    assert versions[0].hash == content_hash(edited) and versions[0].reason == "file"

    harness.file.write_text("# Atlas\n##broken\n", encoding="utf-8")
    await wait_for(lambda: service.info()["error"] is not None, timeout=10)
    error = service.info()["error"]
    assert error["line"] == 2 and "malformed heading" in error["message"]
    assert service.soul.vibe == "Terse." and service.raw()["content"] == edited

    harness.file.write_text(ATLAS, encoding="utf-8")  # fixing the file heals it
    await wait_for(lambda: service.info()["error"] is None
                     and service.soul.vibe == "Warm and brief.",
                     timeout=10)


async def test_own_update_is_not_reloaded_twice(harness: Harness) -> None:
    service = harness.service
    reloads: list[bool] = []
    reload = service.reload

    async def watched_reload() -> bool:  # what the watcher calls after a change
        reloads.append(await reload())
        return reloads[-1]

    service.reload = watched_reload  # type: ignore[method-assign]
    service.start_watching()
    await wait_for(service.armed.is_set, what="the soul watch to be armed")
    new = ATLAS.replace("Atlas", "Atlas Two")
    await service.update(new, operator="alice")
    # The watcher sees our own write and reloads: that must not add a version or an event.
    await wait_for(lambda: reloads, what="the watcher to reload after our own write")
    assert not any(reloads)
    assert len(await harness.service.versions()) == 2
    assert [e[0] for e in harness.bus.emitted] == [SOUL_CHANGED]


def test_copy_of_default_soul_is_valid(tmp_path: Path) -> None:
    shutil.copy(REPO_SOULS / "default.md", tmp_path / "default.md")
    assert parse_soul((tmp_path / "default.md").read_text(encoding="utf-8")).name == "Aman"


async def test_update_of_a_shipped_soul_writes_a_copy_that_wins(harness: Harness,
                                                                tmp_path: Path) -> None:
    home = tmp_path / "home-souls"  # not created yet: the service makes it
    service = SoulService(dirs=[harness.folder, home], active="atlas",
                          repository=harness.service._repo, audit=harness.audit, bus=FakeBus(),
                          clock=SystemClock())
    await service.load()
    new = ATLAS.replace("Warm and brief.", "Cheerful.")
    await service.update(new, operator="alice")
    assert harness.file.read_text(encoding="utf-8") == ATLAS  # the shipped file is untouched
    assert (home / "atlas.md").read_text(encoding="utf-8") == new
    assert service.info()["path"] == str(home / "atlas.md")
    assert service.resolve() == home / "atlas.md"  # and it wins from now on


# --- a soul given by path ------------------------------------------------------------------------


PEER_SOUL = Path(__file__).resolve().parent / "fixtures" / "peers" / "workspace" / "SOUL.md"


def test_a_peer_soul_with_sections_of_its_own_parses() -> None:
    soul = parse_soul(PEER_SOUL.read_text(encoding="utf-8"))
    assert soul.name == "Wren" and soul.identity == "" and soul.core == ""
    assert [s.title for s in soul.extra] == ["Core Truths"]
    assert soul.boundaries[0].startswith("Never send a message")
    assert "Be genuinely useful" in compile_prompt(soul)


@pytest.mark.parametrize("ref", ["SOUL.md", "../elsewhere/SOUL.md", "~/x", "folder/soul"])
def test_paths_are_told_from_names(ref: str) -> None:
    assert is_soul_path(ref)


@pytest.mark.parametrize("ref", ["default", "pirate", "atlas-2"])
def test_names_are_not_paths(ref: str) -> None:
    assert not is_soul_path(ref)


def test_a_soul_path_is_the_file_itself_or_its_folder(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(PEER_SOUL, workspace / "SOUL.md")
    assert soul_candidates(str(workspace / "SOUL.md"), [tmp_path / "souls"]) == [
        workspace / "SOUL.md"]
    assert soul_candidates(str(workspace), [tmp_path / "souls"]) == [workspace / "SOUL.md"]


def test_a_missing_soul_path_names_the_path_really_tried(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "SOUL.md"
    service = SoulService(dirs=[tmp_path], active=str(missing), repository=None,  # type: ignore[arg-type]
                          audit=None, bus=FakeBus(), clock=SystemClock())  # type: ignore[arg-type]
    with pytest.raises(StartupError) as caught:
        asyncio.run(service.load())
    assert f"looked for {missing}" in caught.value.message
    assert "SOUL.md.md" not in caught.value.message
    assert "SOUL.md/SOUL.md" not in caught.value.message


def test_souls_active_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    workspace = tmp_path / "peer" / "workspace"
    workspace.mkdir(parents=True)
    shutil.copy(PEER_SOUL, workspace / "SOUL.md")
    config = tmp_path / "conf" / "aman.yaml"
    config.parent.mkdir()
    config.write_text("souls:\n  active: ../peer/workspace/SOUL.md\n", encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings.souls.active == str(workspace / "SOUL.md")
    named = tmp_path / "named.yaml"
    named.write_text("souls:\n  active: pirate\n", encoding="utf-8")
    assert load_settings(named, env={}).souls.active == "pirate"
