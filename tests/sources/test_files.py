"""The file-watch source against the real file system (watchfiles on a temp folder)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aman.core.lifecycle import TaskTracker
from aman.errors import ValidationFailedError
from aman.events.sources import SourceRegistry, SourceState
from aman.sources import FileWatchConfig, FileWatchSource
from tests.helpers import FakeBus, wait_for

#: Generous for slow CI file systems; every wait polls and returns as soon as the event is in.
DEADLINE_SEC = 10.0


def seen(bus: FakeBus) -> set[tuple[str, str]]:
    """(event type, path) of every event the source published."""
    return {(e.event_type, e.payload["path"]) for e in bus.published}


async def until(predicate: Callable[[], bool], what: str) -> None:
    await wait_for(predicate, DEADLINE_SEC, what=what)


async def after_all_earlier(capture: FakeBus, folder: Path, name: str = "zzz-last.md") -> None:
    """Write a matching file named to sort last and wait for it: whatever the watch saw before
    (an event wrongly let through included) was published by then, in its batch or an earlier one.
    """
    marker = folder / name
    marker.write_text("x")
    await until(lambda: ("file_created", str(marker)) in seen(capture), f"the marker {name}")


@pytest.fixture
async def tasks() -> AsyncIterator[TaskTracker]:
    tracker = TaskTracker()
    yield tracker
    await tracker.cancel_all(timeout=2)


@pytest.fixture
async def watch(tmp_path: Path, tasks: TaskTracker) -> AsyncIterator[Callable[..., Any]]:
    started: list[FileWatchSource] = []

    async def build(**config: Any) -> tuple[FileWatchSource, FakeBus]:
        capture = FakeBus()
        settings = FileWatchConfig.model_validate(
            {"paths": [str(tmp_path)], "debounce_ms": 50, **config})
        source = FileWatchSource("docs", settings, publish=capture.publish, tasks=tasks)
        await source.start()
        started.append(source)
        await wait_for(source.armed.is_set, what="the file watch to be armed")
        return source, capture

    yield build
    for source in started:
        await source.stop()


async def test_create_modify_delete_arrive_with_absolute_paths(tmp_path: Path, watch: Any) -> None:
    source, capture = await watch()
    target = tmp_path / "note.txt"
    target.write_text("one")
    await until(lambda: ("file_created", str(target)) in seen(capture), "file_created")
    created = next(e for e in capture.published if e.event_type == "file_created")
    assert created.source == "file:docs"
    assert created.payload == {"path": str(target), "file_type": "file"}
    # The creation's batch was handed over, so the next write is a change of its own.
    target.write_text("two")
    await until(lambda: ("file_changed", str(target)) in seen(capture), "file_changed")
    target.unlink()
    await until(lambda: ("file_deleted", str(target)) in seen(capture), "file_deleted")
    deleted = next(e for e in capture.published if e.event_type == "file_deleted")
    assert deleted.payload["file_type"] == "unknown"
    assert source.health()["status"] == "ok" and source.health()["emitted"] >= 3


async def test_patterns_match_the_name_or_the_relative_path(tmp_path: Path, watch: Any) -> None:
    (tmp_path / "notes").mkdir()
    _, capture = await watch(patterns=["*.md", "notes/*.txt"])
    (tmp_path / "skip.txt").write_text("x")
    (tmp_path / "keep.md").write_text("x")
    (tmp_path / "notes" / "keep.txt").write_text("x")
    await until(lambda: {str(tmp_path / "keep.md"), str(tmp_path / "notes" / "keep.txt")}
                <= {p for _, p in seen(capture)}, "both matching files")
    await after_all_earlier(capture, tmp_path)
    assert str(tmp_path / "skip.txt") not in {p for _, p in seen(capture)}


async def test_not_recursive_ignores_subfolders(tmp_path: Path, watch: Any) -> None:
    (tmp_path / "sub").mkdir()
    _, capture = await watch(recursive=False)
    (tmp_path / "sub" / "deep.txt").write_text("x")
    (tmp_path / "top.txt").write_text("x")
    await until(lambda: ("file_created", str(tmp_path / "top.txt")) in seen(capture), "top.txt")
    await after_all_earlier(capture, tmp_path)
    assert str(tmp_path / "sub" / "deep.txt") not in {p for _, p in seen(capture)}


async def test_directories_are_reported_as_dir(tmp_path: Path, watch: Any) -> None:
    _, capture = await watch()
    (tmp_path / "folder").mkdir()
    await until(lambda: ("file_created", str(tmp_path / "folder")) in seen(capture), "folder")
    assert next(e for e in capture.published if e.payload["path"] == str(tmp_path / "folder")
                ).payload["file_type"] == "dir"


async def test_paused_watch_emits_nothing(tmp_path: Path, watch: Any) -> None:
    source, capture = await watch()
    await source.pause()
    assert source.state is SourceState.PAUSED
    (tmp_path / "quiet.txt").write_text("x")
    await until(lambda: source.stats.suppressed_while_paused >= 1, "the change being suppressed")
    assert capture.published == []
    await source.resume()
    (tmp_path / "loud.txt").write_text("x")
    await until(lambda: ("file_created", str(tmp_path / "loud.txt")) in seen(capture), "loud.txt")


async def test_configure_moves_the_watch_to_new_paths(tmp_path: Path, watch: Any) -> None:
    other = tmp_path.parent / f"{tmp_path.name}-other"
    other.mkdir()
    source, capture = await watch()
    await source.configure({"paths": [str(other)], "patterns": ["*.log"]})
    assert source.config["paths"] == [str(other)] and source.state is SourceState.RUNNING
    await wait_for(source.armed.is_set, what="the watch of the new path to be armed")
    (tmp_path / "old.log").write_text("x")
    (other / "new.txt").write_text("x")
    (other / "new.log").write_text("x")
    await until(lambda: ("file_created", str(other / "new.log")) in seen(capture), "new.log")
    await after_all_earlier(capture, other, "zzz-last.log")
    assert {p for _, p in seen(capture)} == {str(other / "new.log"), str(other / "zzz-last.log")}


async def test_configure_with_a_missing_path_names_it_and_changes_nothing(
    tmp_path: Path, watch: Any
) -> None:
    source, _ = await watch()
    before = source.config
    with pytest.raises(ValidationFailedError) as caught:
        await source.configure({"paths": [str(tmp_path), str(tmp_path / "nope")]})
    assert "config.paths.1:" in caught.value.message and "does not exist" in caught.value.message
    with pytest.raises(ValidationFailedError, match="config.debounce_ms:"):
        await source.configure({"debounce_ms": -1})
    assert source.config == before and source.state is SourceState.RUNNING


async def test_a_missing_path_fails_the_source_alone(tmp_path: Path, tasks: TaskTracker) -> None:
    missing = tmp_path / "not-yet"
    settings = FileWatchConfig.model_validate({"paths": [str(missing)]})
    source = FileWatchSource("gone", settings, publish=FakeBus().publish, tasks=tasks)
    registry = SourceRegistry(timeout_sec=2)
    registry.register(source)
    await registry.start_all()  # does not raise
    view = registry.describe("gone")
    assert view["state"] == "failed" and view["health"]["status"] == "failed"
    assert str(missing) in view["health"]["detail"]
    # Once the path exists, a configure restarts the watch and clears the failure.
    missing.mkdir()
    await registry.configure("gone", {})
    assert registry.describe("gone")["state"] == "running"
    await registry.stop_all()


async def test_stop_is_prompt(tmp_path: Path, watch: Any) -> None:
    source, _ = await watch()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await source.stop()
    assert loop.time() - started < 1.0 and source.state is SourceState.STOPPED
