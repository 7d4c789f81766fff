"""The verbs over a real daemon: --json parses, errors are message + hint, exit codes hold."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import aman, aman_json, run
from tests.e2e.daemons import TEST_TOKEN, Daemon, StartDaemon, aman_command, clean_env, free_port
from tests.helpers import wait_for_sync
from tests.plugin_archives import archive

pytestmark = pytest.mark.e2e

SCRIPTED = {"llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted"}}}}

LISTINGS = [
    (("sessions", "ls"), "items"), (("approvals", "ls"), "items"), (("dlq", "ls"), "items"),
    (("skills", "ls"), "items"), (("cron", "ls"), "items"), (("workflows", "ls"), "items"),
    (("plugins", "ls"), "items"), (("config", "keys"), "keys"), (("audit", "ls"), "items"),
    (("audit", "verify"), "ok"), (("status",), "ready"),
]


@pytest.mark.parametrize(("args", "key"), LISTINGS, ids=[" ".join(a) for a, _ in LISTINGS])
def test_json_output_parses_and_human_output_is_plain(daemon: Daemon, args: tuple[str, ...],
                                                      key: str) -> None:
    body = aman_json(daemon, *args)
    assert key in body
    human = aman(daemon, *args)
    assert human.returncode == 0, human.stderr
    assert human.stdout.strip() and "\x1b[" not in human.stdout  # no colour off a terminal
    assert not human.stdout.lstrip().startswith("{")


def test_no_daemon_is_one_line_and_exit_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("sessions", "ls", "--url", url)
    assert result.returncode == 3, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "aman run" in lines[0]
    # The URL can come from the config's http.bind as well.
    config = tmp_path / "aman.yaml"
    config.write_text(f"http:\n  bind: {url.removeprefix('http://')}\n")
    result = run("dlq", "ls", "--config", str(config), "--home", str(tmp_path / "home"))
    assert result.returncode == 3 and url in result.stderr


def test_api_errors_print_message_then_hint_and_exit_1(daemon: Daemon) -> None:
    result = aman(daemon, "sessions", "show", "no-such-session")
    assert result.returncode == 1
    message, hint = result.stderr.strip().splitlines()
    assert message.startswith("aman: ") and "no-such-session" in message
    assert hint.startswith("hint: ")


def test_token_from_config_flag_or_environment(token_daemon: Daemon) -> None:
    bare = ["--url", token_daemon.base_url]
    refused = run("sessions", "ls", *bare)
    assert refused.returncode == 1 and "token" in refused.stderr.lower()
    assert run("sessions", "ls", *bare, AMAN_TOKEN=TEST_TOKEN).returncode == 0
    # No URL: found from the daemon's config (its token) and --bind (its address).
    found = run("sessions", "ls", "--config", str(token_daemon.config_path),
                "--bind", token_daemon.bind, "--home", str(token_daemon.home))
    assert found.returncode == 0, found.stderr
    via_env = run("sessions", "ls", "--token", TEST_TOKEN, AMAN_URL=token_daemon.base_url)
    assert via_env.returncode == 0, via_env.stderr


def test_destructive_commands_need_yes_off_a_terminal_and_name_the_operator(
        daemon: Daemon) -> None:
    refused = aman(daemon, "config", "set", "event_bus.max_queue_size", "2345", stdin="")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert aman_json(daemon, "config", "get", "event_bus.max_queue_size")["value"] != 2345
    done = aman(daemon, "config", "set", "event_bus.max_queue_size", "2345", "--yes",
                "--operator", "carol")
    assert done.returncode == 0, done.stderr
    assert aman_json(daemon, "config", "get", "event_bus.max_queue_size")["value"] == 2345
    records = aman_json(daemon, "audit", "ls", "--action", "config.set")["items"]
    assert records[0]["operator"] == "carol"
    unset = aman(daemon, "config", "unset", "event_bus.max_queue_size", "-y")
    assert unset.returncode == 0, unset.stderr


def test_push_then_tail_sees_it(daemon: Daemon) -> None:
    env = clean_env()
    tail = subprocess.Popen(
        aman_command("events", "tail", "--type", "cli.test*", "--count", "1", "--json",
                     "--url", daemon.base_url),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pushed: list[str] = []
        done = threading.Event()

        def keep_pushing() -> None:  # until tail is connected and has seen one
            while not done.is_set():
                pushed.append(aman_json(daemon, "events", "push", "cli.tested",
                                        "--payload", '{"n": 1}')["id"])
                done.wait(0.3)

        pusher = threading.Thread(target=keep_pushing)
        pusher.start()
        try:
            out, err = tail.communicate(timeout=30)
        finally:
            done.set()
            pusher.join()
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err
    seen = json.loads(out.strip().splitlines()[0])
    assert seen["event_type"] == "cli.tested" and seen["id"] in pushed


def test_send_prints_the_reply_reads_stdin_and_exports(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(extra_config=SCRIPTED)
    result = aman(daemon, "send", "hello there")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "You said: hello there"
    answer: dict[str, Any] = aman_json(daemon, "send", "-", stdin="from stdin\n")
    assert answer["reply"]["content"] == "You said: from stdin"
    session = answer["session_id"]
    queued = aman(daemon, "send", "later", "--session", session, "--no-wait")
    assert queued.returncode == 0 and queued.stdout.strip() == session
    markdown = aman(daemon, "sessions", "export", session)
    assert "## user\n\nfrom stdin" in markdown.stdout
    exported = json.loads(aman(daemon, "sessions", "export", session, "--format", "json").stdout)
    assert exported["session"]["id"] == session and exported["messages"][0]["role"] == "user"
    removed = aman(daemon, "sessions", "rm", session, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert aman(daemon, "sessions", "show", session).returncode == 1


def test_send_exits_1_when_the_turn_fails(daemon: Daemon) -> None:
    # The test daemon has no LLM provider: the turn fails with llm_not_configured.
    result = aman(daemon, "send", "hello")
    assert result.returncode == 1
    assert "hint:" in result.stderr


def test_completion_scripts_for_bash_and_zsh() -> None:
    bash = run("completion", "bash")
    assert bash.returncode == 0 and "_AMAN_COMPLETE=bash_complete" in bash.stdout
    zsh = run("completion", "zsh")
    assert zsh.returncode == 0 and "compdef" in zsh.stdout
    assert run("completion", "fish").returncode == 2


def test_existing_commands_keep_their_flags(daemon: Daemon, tmp_path: Path) -> None:
    status = run("status", "--bind", daemon.bind, "--home", str(daemon.home), "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["phase"] == 5
    valid = run("config", "validate", "--home", str(tmp_path))
    assert valid.returncode == 0 and "configuration is valid" in valid.stdout
    as_json = json.loads(run("config", "validate", "--home", str(tmp_path), "--json").stdout)
    assert as_json == {"valid": True, "runtime_dir": str(tmp_path.resolve()),
                       "bind": "127.0.0.1:9090"}
    assert run("--version").stdout.startswith("aman ")


def test_cron_run_fires_now_and_shows_in_runs(daemon: Daemon) -> None:
    added = daemon.client.post("/cron/add", json={"id": "cli-run", "expression": "0 0 1 1 *"})
    assert added.status_code == 201, added.text
    run = aman_json(daemon, "cron", "run", "cli-run")["run"]
    assert run["outcome"] == "ok"
    listed = aman(daemon, "cron", "runs", "cli-run")
    assert listed.returncode == 0 and run["event_id"] in listed.stdout
    assert aman(daemon, "cron", "disable", "cli-run").returncode == 0
    assert aman_json(daemon, "cron", "ls")["items"][0]["enabled"] is False


def test_events_tail_resumes_after_a_restart(start_daemon: StartDaemon) -> None:
    first = start_daemon()
    tail = subprocess.Popen(
        aman_command("events", "tail", "--type", "cli.restart", "--json",
                     "--url", first.base_url),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert tail.stdout is not None
        for line in tail.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        def pushed_and_printed() -> dict[str, Any] | None:
            aman_json(first, "events", "push", "cli.restart", "--payload", '{"phase": "before"}')
            try:
                return dict(json.loads(lines.get(timeout=1.0)))
            except queue.Empty:
                return None

        # Push until the tail shows one: it may connect after the first push.
        seen = wait_for_sync(pushed_and_printed, 30, what="the tail to print an event")
        assert first.stop() == 0
        second = start_daemon(home=first.home, port=first.port)
        after = aman_json(second, "events", "push", "cli.restart", "--payload",
                          '{"phase": "after"}')["id"]
        printed = []
        while not printed or printed[-1]["id"] != after:
            printed.append(json.loads(lines.get(timeout=60)))
    finally:
        tail.kill()
        _, err = tail.communicate()
    ids = [seen["id"], *(p["id"] for p in printed)]
    assert len(ids) == len(set(ids))  # resumed: nothing printed twice
    assert printed[-1]["payload"] == {"phase": "after"}
    assert "waiting for it" in err


def test_logs_prints_the_end_and_follows(daemon: Daemon) -> None:
    where = ["--config", str(daemon.config_path), "--home", str(daemon.home)]
    last = run("logs", "-n", "3", *where)
    assert last.returncode == 0, last.stderr
    assert len(last.stdout.splitlines()) == 3
    follow = subprocess.Popen(aman_command("logs", "-f", "-n", "0", *where), env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert follow.stdout is not None
        found = threading.Event()

        def read() -> None:
            assert follow.stdout is not None
            for line in follow.stdout:
                if "skills reloaded" in line:
                    found.set()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        def reloaded_and_shown() -> bool:
            assert daemon.client.post("/skills/reload").status_code == 200
            return found.wait(0.5)

        # A reload writes one INFO line; repeat until -f shows one.
        wait_for_sync(reloaded_and_shown, 30, what="logs -f to show a new line")
    finally:
        follow.kill()
        follow.communicate()
    assert found.is_set()


def test_approvals_listed_and_approved_by_code(start_daemon: StartDaemon, tmp_path: Path) -> None:
    write = json.dumps({"tool_calls": [{"name": "write",
                                        "arguments": {"path": "a.md", "content": "yes"}}]})
    daemon = start_daemon(extra_config={
        "llm": {"default_provider": "s", "providers": {"s": {
            "kind": "scripted", "replies": [write, "Done: {tool_result}"]}}},
        "tools": {"workspace_dir": str(tmp_path / "ws")}})
    queued = aman_json(daemon, "send", "write it", "--no-wait")
    [request] = wait_for_sync(lambda: aman_json(daemon, "approvals", "ls")["items"], 30,
                              what="an approval to be asked")
    assert request["tool_name"] == "write" and request["session_id"] == queued["session_id"]
    listed = aman(daemon, "approvals", "ls")
    assert request["code"] in listed.stdout and "write" in listed.stdout
    answer = aman(daemon, "approvals", "approve", request["code"].lower(), "--operator", "frank")
    assert answer.returncode == 0 and "approved" in answer.stdout, answer.stderr
    again = aman(daemon, "approvals", "deny", request["code"])
    assert again.returncode == 1 and "already" in again.stderr
    wait_for_sync((tmp_path / "ws" / "a.md").exists, 30, what="the approved write to run")
    assert (tmp_path / "ws" / "a.md").read_text() == "yes"


def test_dlq_entries_shown_retried_and_discarded(start_daemon: StartDaemon) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every delivery fails
    daemon = start_daemon(extra_config={
        "event_bus": {"retry_backoff_ms": [20, 40], "max_retries": 2},
        "forwarders": [{"name": "sink", "url": closed, "event_types": ["cli.dlq"],
                        "timeout_sec": 2}]})
    for n in range(2):
        aman_json(daemon, "events", "push", "cli.dlq", "--payload", json.dumps({"n": n}))
    first, second = wait_for_sync(
        lambda: len(items := aman_json(daemon, "dlq", "ls")["items"]) >= 2 and items, 30,
        what="two DLQ entries")
    shown = aman_json(daemon, "dlq", "show", first["id"])
    assert shown["id"] == first["id"] and shown["handler"] == "forward:sink"
    human = aman(daemon, "dlq", "ls")
    assert first["id"] in human.stdout and "cli.dlq" in human.stdout
    assert aman(daemon, "dlq", "retry", first["id"], stdin="").returncode == 1  # no --yes
    assert aman(daemon, "dlq", "retry", first["id"], "--yes").returncode == 0
    assert aman(daemon, "dlq", "discard", second["id"], "--yes").returncode == 0
    assert aman_json(daemon, "dlq", "show", second["id"])["status"] == "discarded"


def test_plugins_install_disable_enable_rm(daemon: Daemon, tmp_path: Path) -> None:
    package = tmp_path / "cli_plugin.tar.gz"
    package.write_bytes(archive(name="cli_plugin", prefix="cli_plugin/"))
    installed = aman_json(daemon, "plugins", "install", str(package))
    folder = Path(installed["install_dir"])
    assert folder.is_dir()
    assert daemon.client.get("/api/v1/cli_plugin/hi").json() == {"hi": "cli_plugin"}
    assert aman(daemon, "plugins", "disable", "cli_plugin", stdin="").returncode == 1
    assert aman(daemon, "plugins", "disable", "cli_plugin", "--yes").returncode == 0
    assert daemon.client.get("/api/v1/cli_plugin/hi").status_code == 404
    assert aman(daemon, "plugins", "enable", "cli_plugin").returncode == 0
    assert daemon.client.get("/api/v1/cli_plugin/hi").status_code == 200
    assert aman(daemon, "plugins", "rm", "cli_plugin", "--yes").returncode == 0
    assert not folder.exists()
    names = [p["name"] for p in aman_json(daemon, "plugins", "ls")["items"]]
    assert "cli_plugin" not in names


def test_skills_and_workflows_show_and_switch(daemon: Daemon) -> None:
    name = aman_json(daemon, "skills", "ls")["items"][0]["name"]
    assert aman_json(daemon, "skills", "show", name)["name"] == name
    assert aman(daemon, "skills", "disable", name).returncode == 0
    assert aman_json(daemon, "skills", "show", name)["enabled"] is False
    assert aman(daemon, "skills", "enable", name).returncode == 0
    assert aman_json(daemon, "skills", "show", name)["enabled"] is True
    shown = aman(daemon, "workflows", "show", "approval")
    assert shown.returncode == 0 and "states" in shown.stdout
    assert aman_json(daemon, "workflows", "show", "approval")["name"] == "approval"
    assert aman(daemon, "workflows", "show", "no-such-flow").returncode == 1


def test_backup_refuses_a_postgresql_store(tmp_path: Path) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text("store:\n  url: postgresql://aman@127.0.0.1:1/aman\n")
    result = run("backup", str(tmp_path / "b.tar.gz"), "--config", str(config),
                 "--home", str(tmp_path / "home"))
    assert result.returncode == 1 and "PostgreSQL" in result.stderr and "pg_dump" in result.stderr
    assert not (tmp_path / "b.tar.gz").exists()
