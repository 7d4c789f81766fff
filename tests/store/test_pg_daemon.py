"""The daemon on PostgreSQL: boot, keep events and the audit chain across a restart, and fail
boot at the store step, with the cause named, for a server it cannot use."""

from __future__ import annotations

import socket
from pathlib import Path

from aman.core.app import create_app
from aman.core.phases import RuntimeState
from aman.core.runtime import Runtime
from aman.errors import AmanError
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

BOOT_TIMEOUT = 90.0


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_daemon_runs_on_postgresql_and_keeps_its_state(
        make_settings: SettingsFactory, pg_server: PgServer) -> None:
    url = pg_server.new_database()
    settings = make_settings(store__url=url)
    app = create_app(settings)
    rt: Runtime = runtime_of(app)
    async with app.test_app() as served:
        await wait_for(lambda: rt.ready or rt.state is RuntimeState.FAILED, BOOT_TIMEOUT)
        assert rt.ready, rt.phases.failure
        client = served.test_client()
        config = await (await client.get("/runtime/config")).get_json()
        assert config["store"] == "postgresql" and config["database"] == url
        pushed = await client.post("/events/push",
                                   json={"source": "test:pg", "event_type": "pg.check"})
        assert pushed.status_code == 202
        event_id = (await pushed.get_json())["id"]
        skills = (await (await client.get("/skills")).get_json())["items"]
        name = skills[0]["name"]
        for action in ("disable", "enable"):
            switched = await client.post(f"/skill/{name}/{action}", headers={
                "x-aman-confirm": "yes", "x-aman-operator": "alice"})
            assert switched.status_code == 200, await switched.get_json()
        await rt.bus.wait_idle()
    # A second daemon life on the same database sees what the first committed.
    app = create_app(settings)
    rt = runtime_of(app)
    async with app.test_app() as served:
        await wait_for(lambda: rt.ready or rt.state is RuntimeState.FAILED, BOOT_TIMEOUT)
        assert rt.ready, rt.phases.failure
        client = served.test_client()
        dump = await client.get(f"/events/dump/{event_id}")
        assert dump.status_code == 200
        assert (await dump.get_json())["event"]["event_type"] == "pg.check"
        verified = await (await client.get("/audit-log/verify")).get_json()
        assert verified["ok"] is True and verified["checked"] >= 2
        records = (await (await client.get("/audit-log?operator=alice")).get_json())["items"]
        assert [r["action"] for r in records] == ["skill.enable", "skill.disable"]
    rows = pg_server.psql("SELECT count(*) FROM events WHERE event_type = 'pg.check'",
                          url.rsplit("/", 1)[1])
    assert rows.strip() == "1"


async def boot_failure(make_settings: SettingsFactory, url: str) -> tuple[str, str]:
    """Boot on ``url`` and return the failed step and its message."""
    app = create_app(make_settings(store__url=url))
    rt = runtime_of(app)
    async with app.test_app() as served:
        await wait_for(lambda: rt.state is RuntimeState.FAILED, BOOT_TIMEOUT)
        ready = await served.test_client().get("/health/ready")
        assert ready.status_code == 503
        failure = (await ready.get_json())["failure"]
    return failure["step"], failure["error"]


async def test_an_unreachable_server_fails_boot_at_the_store_step(
        make_settings: SettingsFactory) -> None:
    port = closed_port()
    step, error = await boot_failure(make_settings, f"postgresql://aman@127.0.0.1:{port}/aman")
    assert step == "database"
    assert f"cannot reach PostgreSQL at postgresql://aman@127.0.0.1:{port}/aman" in error
    assert "store.url" in error


async def test_a_missing_database_or_role_fails_boot_naming_it(
        make_settings: SettingsFactory, pg_server: PgServer) -> None:
    step, error = await boot_failure(make_settings, pg_server.url("no_such_db"))
    assert step == "database" and '"no_such_db" does not exist' in error
    assert "store.url" in error
    wrong_user = f"postgresql://nobody@127.0.0.1:{pg_server.port}/postgres"
    step, error = await boot_failure(make_settings, wrong_user)
    assert step == "database" and '"nobody" does not exist' in error


async def test_a_schema_newer_than_the_code_fails_boot(make_settings: SettingsFactory,
                                                       pg_server: PgServer) -> None:
    url = pg_server.new_database()
    name = url.rsplit("/", 1)[1]
    pg_server.psql("CREATE TABLE schema_version (version BIGINT PRIMARY KEY, name TEXT NOT NULL,"
                   " applied_at_ms BIGINT NOT NULL);"
                   " INSERT INTO schema_version VALUES (9999, '9999_future.sql', 0)", name)
    step, error = await boot_failure(make_settings, url)
    assert step == "database"
    assert "schema version 9999, newer than this aman knows" in error
    assert "upgrade aman" in error


def accepts(rt: Runtime, secret: str) -> bool:
    """Whether ``rt`` lets ``secret`` in."""
    try:
        rt.keys.authenticate(secret)
    except AmanError:
        return False
    return True


async def test_two_daemons_share_a_database_and_a_name_is_taken_once(
        make_settings: SettingsFactory, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    first = create_app(make_settings(store__url=url, cluster__node_name="first"))
    rt = runtime_of(first)
    async with first.test_app():
        await wait_for(lambda: rt.ready or rt.state is RuntimeState.FAILED, BOOT_TIMEOUT)
        assert rt.ready, rt.phases.failure
        # Another daemon under the same name is refused at the cluster step, naming the fix.
        same_name = make_settings(store__url=url, cluster__node_name="first",
                                  runtime__dir=str(tmp_path / "same"))
        step, error = await boot_failure(lambda **_: same_name, url)
        assert step == "cluster" and "cluster.node_name" in error
        # Under its own name it runs beside the first, and each sees the other.
        second = create_app(make_settings(store__url=url, cluster__node_name="second",
                                          runtime__dir=str(tmp_path / "second"),
                                          cluster__heartbeat_sec=0.2,
                                          cluster__dead_after_sec=2))
        rt2 = runtime_of(second)
        async with second.test_app() as served:
            await wait_for(lambda: rt2.ready or rt2.state is RuntimeState.FAILED, BOOT_TIMEOUT)
            assert rt2.ready, rt2.phases.failure
            status = await (await served.test_client().get("/runtime/status")).get_json()
            cluster = status["cluster"]
            assert cluster["store_shared"] is True and cluster["daemon"]["name"] == "second"
            # The first daemon booted first, so it leads every role; the second leads none.
            assert cluster["daemon"]["leads"] == []
            await wait_for(lambda: [m["name"] for m in rt2.cluster.status()["others"]]
                           == ["first"], BOOT_TIMEOUT)
            assert set(rt.cluster.led) == {"cron", "workflow_timers", "maintenance", "heartbeat",
                                      "channel_intake", "channel_outbox"}
            # A key made on one daemon works on the other; revoked there, it stops here.
            key, secret = await rt.keys.create(name="shared", scopes=["read"])
            await wait_for(lambda: accepts(rt2, secret), BOOT_TIMEOUT,
                           what="the second daemon knows the key made on the first")
            await rt2.keys.revoke(key.id)
            await wait_for(lambda: not accepts(rt, secret), BOOT_TIMEOUT,
                           what="the first daemon refuses the key revoked on the second")
    # The first stopped cleanly: its row is gone and its roles are free again.
    rows = pg_server.psql("SELECT count(*) FROM daemons", url.rsplit("/", 1)[1])
    assert rows.strip() == "0"
