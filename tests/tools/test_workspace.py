"""Path confinement: relative paths start in the workspace; nothing escapes the roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from aman.tools.model import ToolFailedError
from aman.tools.workspace import PathNotAllowedError, resolve


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    workspace, extra = tmp_path / "workspace", tmp_path / "extra"
    workspace.mkdir()
    extra.mkdir()
    return workspace, extra


def test_relative_paths_start_in_the_workspace(roots: tuple[Path, Path]) -> None:
    assert resolve("notes/a.txt", roots) == roots[0].resolve() / "notes" / "a.txt"
    assert resolve(".", roots) == roots[0].resolve()


def test_absolute_path_inside_another_root_is_allowed(roots: tuple[Path, Path]) -> None:
    target = roots[1] / "b.txt"
    assert resolve(str(target), roots) == target.resolve()


@pytest.mark.parametrize("path", ["..", "../x", "a/../../x", "notes/../../../etc/passwd"])
def test_dotdot_escapes_are_refused(roots: tuple[Path, Path], path: str) -> None:
    with pytest.raises(PathNotAllowedError) as caught:
        resolve(path, roots)
    assert caught.value.code == "path_not_allowed"
    assert path in caught.value.message and str(roots[0].resolve()) in caught.value.message


def test_dotdot_that_stays_inside_is_fine(roots: tuple[Path, Path]) -> None:
    assert resolve("a/../b.txt", roots) == roots[0].resolve() / "b.txt"


@pytest.mark.parametrize("path", ["/etc/passwd", "/", "~/.ssh/id_rsa"])
def test_absolute_paths_outside_every_root_are_refused(roots: tuple[Path, Path], path: str) -> None:
    with pytest.raises(PathNotAllowedError):
        resolve(path, roots)


def test_symlink_escaping_is_refused(roots: tuple[Path, Path], tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    (roots[0] / "link").symlink_to(outside)
    with pytest.raises(PathNotAllowedError) as caught:
        resolve("link/secret", roots)
    assert "symlink" in caught.value.message
    with pytest.raises(PathNotAllowedError):
        resolve("link/new-file", roots)  # writing through the link is refused too


def test_symlink_staying_inside_is_allowed(roots: tuple[Path, Path]) -> None:
    (roots[0] / "real").mkdir()
    (roots[0] / "alias").symlink_to(roots[0] / "real")
    assert resolve("alias/f.txt", roots) == roots[0].resolve() / "real" / "f.txt"
    (roots[0] / "to-extra").symlink_to(roots[1])  # a link into another root is inside too
    assert resolve("to-extra", roots) == roots[1].resolve()


def test_must_exist(roots: tuple[Path, Path]) -> None:
    with pytest.raises(ToolFailedError, match="no file or folder"):
        resolve("missing.txt", roots, must_exist=True)


def test_no_roots_refuses_everything() -> None:
    with pytest.raises(PathNotAllowedError):
        resolve("a.txt", ())
