"""The mcp section: pasted shapes, imports, placeholders, refused env, tool rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aman.config.loader import load_settings
from aman.errors import ConfigError
from aman.mcp import adapt
from aman.mcp.resolve import ServerConfigError, gather, read_import, resolve, substitute
from aman.mcp.settings import McpServerSettings, McpSettings, ToolFilter
from aman.tools.model import Sensitivity

CLAUDE_DESKTOP = {
    "mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time", "--local-timezone=UTC"]},
        "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                   "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${env:GH_TOKEN}"}},
        "remote": {"type": "http", "url": "https://example.invalid/mcp",
                   "headers": {"Authorization": "Bearer ${API_KEY:-anon}"}},
        "legacy": {"url": "http://127.0.0.1:9/sse", "disabled": True, "autoApprove": ["x"]},
    }
}


def test_a_pasted_mcpservers_map_is_the_servers_map() -> None:
    settings = McpSettings.model_validate(CLAUDE_DESKTOP)
    assert sorted(settings.servers) == ["github", "legacy", "remote", "time"]
    assert settings.servers["time"].kind == "stdio"
    assert settings.servers["remote"].kind == "http"
    assert settings.servers["legacy"].kind == "sse" and not settings.servers["legacy"].enabled


@pytest.mark.parametrize(("spelled", "kind"), [
    ({"type": "streamable-http"}, "http"), ({"transport": "streamableHttp"}, "http"),
    ({"type": "sse"}, "sse"), ({"transport": "http"}, "http"), ({}, "http"),
])
def test_transport_is_read_however_it_is_spelled(spelled: dict[str, str], kind: str) -> None:
    server = McpServerSettings.model_validate({"url": "http://127.0.0.1:1/mcp", **spelled})
    assert server.kind == kind


def test_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="mcp.servers.x.comand"):
        load_settings(env={}, overrides={"mcp.servers": {"x": {"comand": "oops"}}})


def test_a_placeholder_without_value_does_not_fail_the_boot(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={
        "runtime.dir": str(tmp_path), "mcp.servers": {"x": {"command": "${NOPE}"}}})
    assert settings.mcp.servers["x"].command == "${NOPE}"  # resolved when it connects
    with pytest.raises(ServerConfigError, match=r"mcp.servers.x.command: .*NOPE is not set"):
        resolve("x", settings.mcp.servers["x"], {})


def test_placeholders_of_every_pasted_spelling_resolve() -> None:
    env = {"GH_TOKEN": "t0k", "API_KEY": "k"}
    assert substitute("${env:GH_TOKEN}", env, "k") == "t0k"
    assert substitute("Bearer ${API_KEY:-anon}", env, "k") == "Bearer k"
    assert substitute("Bearer ${MISSING:-anon}", env, "k") == "Bearer anon"
    assert substitute("${userHome}/x", env, "k") == f"{Path.home()}/x"
    with pytest.raises(ServerConfigError, match="workspaceFolder"):
        substitute("${workspaceFolder}", env, "k")


def test_the_secret_value_is_never_in_the_message() -> None:
    server = McpServerSettings.model_validate({"command": "x", "env": {"A": "${SECRET_A}",
                                                                      "B": "${MISSING_B}"}})
    with pytest.raises(ServerConfigError) as caught:
        resolve("s", server, {"SECRET_A": "hunter2"})
    assert "mcp.servers.s.env.B" in caught.value.message and "hunter2" not in caught.value.message


@pytest.mark.parametrize("variable", ["PYTHONPATH", "NODE_OPTIONS", "LD_PRELOAD", "pythonstartup"])
def test_interpreter_control_variables_are_refused(variable: str) -> None:
    server = McpServerSettings.model_validate({"command": sys.executable,
                                               "env": {variable: "/tmp/evil"}})
    with pytest.raises(ServerConfigError, match=f"{variable}.*refused"):
        resolve("s", server, {})


def test_an_imported_claude_desktop_file_is_read_where_it_lies(tmp_path: Path) -> None:
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps(CLAUDE_DESKTOP))
    vscode = tmp_path / "mcp.json"
    vscode.write_text(json.dumps({"servers": {"mine": {"type": "stdio", "command": "x"}}}))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    settings = McpSettings.model_validate({
        "import": [str(path), str(vscode), str(broken)],
        "servers": {"time": {"command": "own-time"}}})
    found = gather(settings)
    assert found["time"].settings is not None and found["time"].settings.command == "own-time"
    assert found["github"].origin == str(path) and found["mine"].enabled
    assert found["import:broken.json"].problem is not None
    assert "cannot be read" in found["import:broken.json"].problem


def test_an_imported_entry_that_is_wrong_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": {"good": {"command": "x"}, "bad": {"args": []}}}))
    specs = read_import(path)
    assert specs["good"].settings is not None
    assert specs["bad"].settings is None and "command" in str(specs["bad"].problem)


def test_names_are_sanitised_and_capped_with_a_hash() -> None:
    assert adapt.tool_name("git", "git_status") == "mcp__git__git_status"
    assert adapt.tool_name("my.server", "do it!") == "mcp__my_server__do_it_"
    long_a = adapt.tool_name("s", "x" * 80)
    long_b = adapt.tool_name("s", "x" * 81)
    assert len(long_a) == 64 and len(long_b) == 64 and long_a != long_b
    assert long_a.startswith("mcp__s__xxx")


def test_schemas_are_made_acceptable_to_both_formats() -> None:
    schema = adapt.model_schema({"$schema": "x", "anyOf": [{}], "properties": {"a": {}},
                                 "required": ["a"]})
    assert schema == {"type": "object", "properties": {"a": {}}, "required": ["a"]}
    assert adapt.model_schema(None) == {"type": "object", "properties": {}}


@pytest.mark.parametrize(("hints", "trust", "level"), [
    (None, "trusted", Sensitivity.MEDIUM),
    ({"readOnlyHint": True}, "trusted", Sensitivity.LOW),
    ({"readOnlyHint": True}, "untrusted", Sensitivity.MEDIUM),
    ({"destructiveHint": True}, "trusted", Sensitivity.HIGH),
    ({"destructiveHint": True, "readOnlyHint": True}, "untrusted", Sensitivity.HIGH),
])
def test_sensitivity_follows_annotations_and_trust(hints: dict[str, bool] | None, trust: str,
                                                   level: Sensitivity) -> None:
    assert adapt.sensitivity(hints, trust) is level  # type: ignore[arg-type]


def test_include_and_exclude_take_names_or_globs() -> None:
    filters = ToolFilter(include=["git_*", "mcp__git__log"], exclude=["git_push"])
    assert adapt.wanted("git_status", filters, "git")
    assert not adapt.wanted("git_push", filters, "git")
    assert adapt.wanted("log", filters, "git")
    assert not adapt.wanted("other", filters, "git")


def test_results_become_text() -> None:
    png = {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"}
    text = adapt.result_text([{"type": "text", "text": "hi"}, png], {"n": 1})
    assert text.startswith("hi\n[image image/png of 5 bytes not shown")
    assert adapt.result_text([], {"n": 1}) == '{"n": 1}'
    embedded = {"type": "resource", "resource": {"uri": "file:///a", "text": "body"}}
    assert adapt.result_text([embedded], None) == "body"
