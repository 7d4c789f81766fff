"""Reading definition folders: broken files listed beside good ones, duplicates, shadowing."""

from __future__ import annotations

import textwrap
from pathlib import Path

from aman.workflows.loader import LoadedFile, load_file, load_folders


def flow(name: str, *, final: str = "done") -> str:
    return textwrap.dedent(f"""
        name: {name}
        states: [open, {final}]
        initial_state: open
        final_states: [{final}]
        transitions:
          - {{from: open, event: finish, to: {final}}}
        """)


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def by_path(results: list[LoadedFile]) -> dict[str, LoadedFile]:
    return {r.path.name: r for r in results}


def test_an_invalid_file_is_listed_with_its_error_and_the_others_load(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", flow("good"))
    bad = write(tmp_path, "bad.yml", flow("bad").replace("initial_state: open",
                                                          "initial_state: nowhere"))
    results = by_path(load_folders([tmp_path]))
    assert results["good.yaml"].status == "loaded"
    assert results["good.yaml"].definition is not None
    assert results["good.yaml"].content_hash == results["good.yaml"].definition.content_hash()
    broken = results["bad.yml"]
    assert (broken.status, broken.name, broken.definition, broken.content_hash) == (
        "invalid", "bad", None, None)
    assert broken.error == f"{bad}: initial_state: unknown state 'nowhere'; states are open, done"


def test_a_nested_field_error_names_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "w.yaml", flow("w") + "state_timeouts: [{state: open, after: soon,"
                                                 " on_timeout: done}]\n")
    loaded = load_file(path)
    assert loaded.status == "invalid"
    assert loaded.error == (f"{path}: state_timeouts[0].after: 'soon' is not a duration; write "
                            "e.g. 30s, 5m, 2h, 7d or 250ms")


def test_unknown_and_missing_fields_are_explained(tmp_path: Path) -> None:
    text = flow("w").replace("initial_state: open\n", "") + "colour: blue\n"
    loaded = load_file(write(tmp_path, "w.yaml", text))
    assert loaded.error is not None
    assert "initial_state: required field is missing" in loaded.error
    assert "colour: unknown field; see docs/workflows.md for the allowed ones" in loaded.error


def test_a_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    text = "name: broken\nstates: [open, done\ninitial_state: open\n"
    path = write(tmp_path, "broken.yaml", text)
    loaded = load_file(path)
    assert (loaded.status, loaded.name) == ("invalid", "broken")
    assert loaded.error is not None
    assert loaded.error.startswith(f"{path}: not valid YAML at line 3, column ")


def test_a_file_that_is_not_a_mapping_is_invalid(tmp_path: Path) -> None:
    for filename, text in (("list.yaml", "- a\n- b\n"), ("empty.yaml", ""), ("text.yaml", "hi\n")):
        path = write(tmp_path, filename, text)
        loaded = load_file(path)
        assert loaded.status == "invalid"
        assert loaded.error == f"{path}: must hold a mapping with name, states, transitions, ..."


def test_a_duplicate_name_in_one_folder_makes_the_later_file_invalid(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", flow("same"))
    later = write(tmp_path, "b.yaml", flow("same", final="closed"))
    results = by_path(load_folders([tmp_path]))
    assert results["a.yaml"].status == "loaded"
    assert results["b.yaml"].status == "invalid"
    assert results["b.yaml"].error == (f"{later}: name: duplicate workflow name 'same', already "
                                       "defined in a.yaml; rename one of them")


def test_a_later_folder_shadows_the_same_name_in_an_earlier_one(tmp_path: Path) -> None:
    repo, runtime = tmp_path / "repo", tmp_path / "runtime"
    write(repo, "approval.yaml", flow("approval"))
    write(repo, "other.yaml", flow("other"))
    override = write(runtime, "my-approval.yaml", flow("approval", final="closed"))
    results = load_folders([repo, runtime])
    assert [(r.name, r.path.parent.name, r.status) for r in results] == [
        ("approval", "repo", "shadowed"), ("approval", "runtime", "loaded"),
        ("other", "repo", "loaded")]
    shadowed = results[0]
    assert shadowed.error == f"overridden by {override}"
    assert shadowed.definition is not None and shadowed.definition.final_states == ["done"]
    assert results[1].definition is not None and results[1].definition.final_states == ["closed"]


def test_an_invalid_file_in_a_later_folder_does_not_shadow(tmp_path: Path) -> None:
    repo, runtime = tmp_path / "repo", tmp_path / "runtime"
    write(repo, "approval.yaml", flow("approval"))
    write(runtime, "approval.yaml", flow("approval").replace("initial_state: open",
                                                             "initial_state: nowhere"))
    assert [(r.path.parent.name, r.status) for r in load_folders([repo, runtime])] == [
        ("repo", "loaded"), ("runtime", "invalid")]


def test_hidden_files_other_suffixes_and_subfolders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "real.yaml", flow("real"))
    write(tmp_path, ".hidden.yaml", flow("hidden"))
    write(tmp_path, "notes.txt", flow("notes"))
    write(tmp_path, "real.yaml.bak", flow("backup"))
    write(tmp_path / "nested", "deep.yaml", flow("deep"))
    assert [r.name for r in load_folders([tmp_path])] == ["real"]


def test_missing_folders_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "present", "w.yaml", flow("w"))
    results = load_folders([tmp_path / "absent", tmp_path / "present"])
    assert [(r.name, r.status) for r in results] == [("w", "loaded")]
