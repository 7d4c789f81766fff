"""``aman migrate-store``: a real daemon's SQLite store moves to a real PostgreSQL database. While
the daemon runs the move is refused; once it stopped, the copy matches table by table, and a
daemon booted on PostgreSQL serves the moved events, chat and audit chain over HTTP. A daemon
running on a PostgreSQL source, an occupied target and a malformed URL are refused, each leaving
the target as it was; a stopped PostgreSQL store moves back to SQLite; a copy whose audit chain
does not verify exits 1 naming the difference."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from aman.audit.log import AuditLog
from aman.clock import SystemClock
from aman.store.backend import open_backend
from tests.cli.helpers import aman_json, run
from tests.e2e.daemons import Daemon, StartDaemon
from tests.pg import PgServer, pg_server

pytestmark = pytest.mark.e2e
__all__ = ["pg_server"]

SCRIPTED = {"llm": {"default_provider": "s", "providers": {"s": {"kind": "scripted"}}}}
EVENTS = 40


def pg_tables(pg: PgServer, url: str) -> str:
    """The tables of ``url``'s database with their row counts, as psql prints them."""
    database = url.rsplit("/", 1)[1]
    names = pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "ORDER BY tablename", database).split()
    return "\n".join(f"{n}={pg.psql(f'SELECT COUNT(*) FROM {n}', database).strip()}"
                     for n in names)


def fill(daemon: Daemon) -> tuple[list[str], str]:
    """Events, a chat exchange and audited actions, through the daemon's own API."""
    ids = []
    for n in range(EVENTS):
        pushed = daemon.client.post("/events/push", json={
            "source": "test:move", "type": "move.pushed", "payload": {"n": n}})
        assert pushed.status_code == 202, pushed.text
        ids.append(pushed.json()["id"])
    session = aman_json(daemon, "send", "remember me", "--operator", "dana")["session_id"]
    name = daemon.client.get("/skills").json()["items"][0]["name"]
    for action in ("disable", "enable"):
        switched = daemon.client.post(f"/skill/{name}/{action}", headers={
            "x-aman-confirm": "yes", "x-aman-operator": "dana"})
        assert switched.status_code == 200, switched.text
    return ids, session


def test_a_stopped_daemon_moves_to_postgresql_and_boots_there(
        start_daemon: StartDaemon, pg_server: PgServer) -> None:
    first = start_daemon(extra_config=SCRIPTED)
    ids, session = fill(first)
    audited = first.client.get("/audit-log/verify").json()["checked"]
    where = ["--config", str(first.config_path), "--home", str(first.home)]
    url = pg_server.new_database()

    refused = run("migrate-store", "--to", url, *where)
    assert refused.returncode == 1, refused.stderr
    assert "in use by another aman daemon (pid" in refused.stderr
    assert "nothing was written" in refused.stderr and "hint: stop the daemon" in refused.stderr
    assert pg_tables(pg_server, url) == ""
    assert first.client.get("/health/ready").status_code == 200

    assert first.stop() == 0
    moved = run("migrate-store", "--to", url, *where, "--json", timeout=180)
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert report["source"] == str((first.home / "aman.db").resolve())
    counts = {t["table"]: t["source_rows"] for t in report["tables"]}
    assert all(t["matches"] for t in report["tables"])
    assert counts["events"] >= EVENTS and counts["chat_messages"] == 2
    assert counts["audit_log"] == audited and report["audit"]["checked"] == audited
    assert "schema_version" not in counts

    second = start_daemon(extra_config={**SCRIPTED, "store": {"url": url}})
    assert second.client.get("/runtime/config").json()["store"] == "postgresql"
    for event_id in ids:
        dump = second.client.get(f"/events/dump/{event_id}")
        assert dump.status_code == 200, f"moved event {event_id} is missing"
    assert dump.json()["event"]["payload"] == {"n": EVENTS - 1}
    state = second.client.get(f"/chat/session/{session}/state").json()
    assert [m["content"] for m in state["messages"]] == ["remember me", "You said: remember me"]
    verify = second.client.get("/audit-log/verify").json()
    assert verify["ok"] is True and verify["checked"] >= audited
    # New rows after the move take fresh ids: the sequences continue past the copied ones.
    pushed = second.client.post("/events/push", json={"source": "test:move", "type": "after"})
    assert pushed.status_code == 202, pushed.text
    assert second.client.get(f"/events/dump/{pushed.json()['id']}").status_code == 200


def test_an_occupied_target_and_a_bad_url_are_refused(start_daemon: StartDaemon,
                                                      pg_server: PgServer,
                                                      tmp_path: Path) -> None:
    source = start_daemon(extra_config=SCRIPTED)
    fill(source)
    assert source.stop() == 0
    database = source.home / "aman.db"
    occupied = pg_server.new_database()
    in_use = start_daemon(extra_config={**SCRIPTED, "store": {"url": occupied}})
    # A daemon beating on a PostgreSQL source refuses the move; once stopped, the move runs.
    back = tmp_path / "back" / "aman.db"
    running = run("migrate-store", "--from", occupied, "--to", f"sqlite://{back}",
                  "--home", str(tmp_path / "elsewhere"))
    assert running.returncode == 1, running.stderr
    assert "a daemon runs on the source" in running.stderr and "(pid " in running.stderr
    assert not back.exists()
    assert in_use.stop() == 0
    before = pg_tables(pg_server, occupied)
    returned = run("migrate-store", "--from", occupied, "--to", f"sqlite://{back}", "--json",
                   "--home", str(tmp_path / "elsewhere"), timeout=180)
    assert returned.returncode == 0, returned.stderr
    assert json.loads(returned.stdout)["ok"] is True and back.is_file()
    assert pg_tables(pg_server, occupied) == before  # the source is only read

    refused = run("migrate-store", "--from", f"sqlite://{database}", "--to", occupied,
                  "--home", str(tmp_path / "elsewhere"))
    assert refused.returncode == 1
    assert "already holds data: event_steps (" in refused.stderr
    assert "nothing was written" in refused.stderr and "hint: migrate into an empty" in \
        refused.stderr
    assert pg_tables(pg_server, occupied) == before

    empty = pg_server.new_database()
    for bad in ("mysql://127.0.0.1/aman", "postgresql://127.0.0.1:5432/"):
        result = run("migrate-store", "--from", f"sqlite://{database}", "--to", bad,
                     "--home", str(tmp_path / "elsewhere"))
        assert result.returncode == 2, result.stderr
        assert "is not a store URL" in result.stderr
    both_sqlite = run("migrate-store", "--from", f"sqlite://{database}", "--to",
                      f"sqlite://{tmp_path / 'copy.db'}", "--home", str(tmp_path / "elsewhere"))
    assert both_sqlite.returncode == 1 and "both stores are sqlite" in both_sqlite.stderr
    assert not (tmp_path / "copy.db").exists()
    assert pg_tables(pg_server, empty) == ""

    moved = run("migrate-store", "--from", f"sqlite://{database}", "--to", empty,
                "--home", str(tmp_path / "elsewhere"), timeout=180)
    assert moved.returncode == 0, moved.stderr
    assert "audit chain verified on the target" in moved.stdout
    assert "not copied: chat_fts (a search index the target keeps in its own way)" in \
        moved.stdout
    assert "not copied: daemons (who runs on the source;" in moved.stdout
    assert "copied events (" in moved.stderr
    lines = {line.split()[0]: line.split()[1:] for line in moved.stdout.splitlines() if line}
    assert lines["TABLE"] == ["SOURCE_ROWS", "TARGET_ROWS", "CHECK"]
    assert lines["events"][2] == "ok" and lines["events"][0] == lines["events"][1]


def test_a_missing_default_source_is_refused_without_creating_anything(tmp_path: Path) -> None:
    home = tmp_path / "never-ran"
    result = run("migrate-store", "--home", str(home), "--to",
                 "postgresql://aman@127.0.0.1:1/unreached")
    assert result.returncode == 1, result.stderr
    assert f"there is no SQLite store at {home / 'aman.db'}" in result.stderr
    assert "nothing was written" in result.stderr and "hint: give --from" in result.stderr
    assert not home.exists()


async def _store_with_audit(path: Path, records: int) -> None:
    store = open_backend(None, path)
    await store.open()
    try:
        audit = AuditLog(store.audit, SystemClock())
        for n in range(records):
            await audit.record("thing.changed", operator="dana", target=f"t{n}")
    finally:
        await store.close()


def test_a_copy_that_does_not_verify_exits_1_naming_the_difference(
        pg_server: PgServer, tmp_path: Path) -> None:
    source = tmp_path / "aman.db"
    asyncio.run(_store_with_audit(source, 5))
    with sqlite3.connect(source) as conn:  # someone edited the log behind the daemon's back
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET operator = 'mallory' WHERE id = 3")
    url = pg_server.new_database()
    result = run("migrate-store", "--from", f"sqlite://{source}", "--to", url,
                 "--home", str(tmp_path / "elsewhere"))
    assert result.returncode == 1, result.stderr
    assert "audit_log             5            5            ok" in result.stdout
    assert "audit chain does NOT verify on the target" in result.stdout
    assert ("aman: the copy does not match the source: the audit chain does not verify on the "
            "target at record 3 (content does not match its hash (the record was altered)) "
            "(the source's chain is broken too)") in result.stderr
    assert "hint: the target" in result.stderr and "is left as copied" in result.stderr
