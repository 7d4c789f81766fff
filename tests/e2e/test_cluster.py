"""Two real daemons on one PostgreSQL database, under load, one of them killed with ``kill -9``.

Each daemon has its own runtime dir, port and ``cluster.node_name``; a test plugin
(``tests/plugins/side_effect``) appends one line per delivery to a file both daemons share, so
how often each event's handler ran is counted from outside. The proofs: every accepted (202)
event is handled, exactly once unless its delivery is parked in the DLQ as interrupted; the
once-a-second cron job fires each scheduled time once, with the survivor catching up the times
missed around the kill; an SSE client on the survivor, reconnecting with ``Last-Event-ID`` in the
middle, misses no dispatched event; ``/runtime/status`` names both daemons, the dead one as not
alive, and the survivor leading every role. A clean stop (SIGTERM) gives its pending events back
and the other daemon finishes them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster_load import LOAD, Load, StreamFollower, push_load
from tests.e2e.daemons import REPO_ROOT, Daemon, StartDaemon
from tests.helpers import wait_for, wait_for_sync
from tests.pg import PgServer, pg_server

pytestmark = pytest.mark.e2e
__all__ = ["pg_server"]

PLUGIN = REPO_ROOT / "tests" / "plugins" / "side_effect"
CRON_JOB = "cluster-tick"
#: The load: pushes per second over both daemons, for how long, and when things happen in it.
TARGET_RATE = 500.0
PUSH_SEC = 20.0
RECONNECT_AT_SEC = 6.0
KILL_AT_SEC = 10.0
#: Generous: a loaded 2-core machine runs both daemons, PostgreSQL and the load.
SETTLE_SEC = 120.0


def cluster_config(url: str, name: str, folder: Path, effects: Path, *,
                   delay_ms: int = 0, cron: bool = True) -> dict[str, Any]:
    """One daemon's config: the shared database, its own name, quick death detection, the
    side-effect plugin writing to the shared file, and the once-a-second cron job."""
    plugins = folder / "plugins"
    if not (plugins / "side_effect").exists():
        shutil.copytree(PLUGIN, plugins / "side_effect")
    config: dict[str, Any] = {
        "store": {"url": url},
        "cluster": {"node_name": name, "heartbeat_sec": 0.3, "dead_after_sec": 1.5},
        # The stream client shares its process with the load: room for it to fall behind.
        "stream": {"client_buffer": 50_000, "replay_limit": 50_000},
        "plugins": {"dirs": [str(plugins)], "config": {"side_effect": {
            "file": str(effects), "event_types": [LOAD, "cron_tick"], "delay_ms": delay_ms}}},
    }
    if cron:
        config["cron"] = {"jobs": [{"id": CRON_JOB, "expression": "* * * * * *",
                                    "catch_up": "all"}]}
    return config


def effects_of(path: Path) -> list[tuple[str, str, str]]:
    """The plugin's lines: (event id, event type, cron scheduled_at_ms or ``-``)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(parts[0], parts[1], parts[2]) for parts in (line.split(" ") for line in lines)
            if len(parts) == 3]


def load_counts(path: Path) -> Counter[str]:
    """How many times the handler ran, per load event id."""
    return Counter(event_id for event_id, kind, _ in effects_of(path) if kind == LOAD)


def status_of(daemon: Daemon) -> dict[str, Any]:
    response = daemon.client.get("/runtime/status")
    assert response.status_code == 200, response.text
    cluster: dict[str, Any] = response.json()["cluster"]
    return cluster


def others_of(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in status_of(daemon)["others"]}


def interrupted_in_dlq(daemon: Daemon) -> set[str]:
    """Event ids whose delivery the DLQ holds as interrupted (read over HTTP, every page)."""
    found: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = daemon.client.get("/dlq", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found.update(e["event_id"] for e in body["items"]
                     if "interrupted" in str(e.get("reason", "")).lower())
        cursor = body.get("next_cursor")
        if not cursor:
            return found


def unhandled(accepted: set[str], effects: Path, daemon: Daemon) -> set[str]:
    """Accepted events without a side effect that are not parked in the DLQ as interrupted."""
    missing = accepted - set(load_counts(effects))
    return missing - interrupted_in_dlq(daemon) if missing else missing


def check_exactly_once(accepted: set[str], counts: Counter[str], interrupted: set[str]) -> None:
    """Each handler's side effect happened once per event; an exactly-once delivery a crash
    interrupted mid-handler is parked in the DLQ instead of running again, so it happened once
    or not at all, never twice."""
    twice = {i: n for i, n in counts.items() if n > 1}
    assert not twice, (f"{len(twice)} event(s) handled more than once (interrupted in the DLQ: "
                       f"{len(interrupted)}, of them twice: {len(interrupted & set(twice))}): "
                       f"{dict(list(twice.items())[:10])}")
    never = accepted - set(counts) - interrupted
    assert not never, f"{len(never)} accepted event(s) never handled: {sorted(never)[:10]}"


# --- the scenario ----------------------------------------------------------------------------

_T0 = [time.monotonic()]


def phase(what: str) -> None:
    """Print how long the test has run (shown with ``-s`` and with a failure's captured output)."""
    print(f"[{time.monotonic() - _T0[0]:6.1f}s] {what}")


async def test_two_daemons_under_load_survive_a_kill_9(
    start_daemon: StartDaemon, pg_server: PgServer, tmp_path: Path,
) -> None:
    _T0[0] = time.monotonic()
    url = pg_server.new_database()
    effects = tmp_path / "effects.log"
    # Both boot at once on the fresh database (migrations, config cron job, roles race).
    one, two = (start_daemon(extra_config=cluster_config(url, name, tmp_path, effects),
                             wait=False) for name in ("one", "two"))
    for daemon in (one, two):
        daemon.wait_ready(timeout=60)
    await wait_for(lambda: others_of(one).get("two", {}).get("alive")
                   and others_of(two).get("one", {}).get("alive"),
                   30, what="each daemon to see the other alive")
    assert status_of(two)["store_shared"] is True

    def every_role_led() -> dict[str, str] | None:
        leaders: dict[str, str] = status_of(one)["leaders"]
        return leaders if leaders and all(leaders.values()) else None

    leaders = await wait_for(every_role_led, 30, what="every role to have a leader")
    # The cron leader is the one to die ("alpha"); the other survives ("beta").
    alpha, beta = (one, two) if leaders["cron"] == "one" else (two, one)
    alpha_name, beta_name = ("one", "two") if alpha is one else ("two", "one")
    phase(f"both daemons up; {alpha_name} leads {sorted(status_of(alpha)['daemon']['leads'])}")

    follower = StreamFollower(beta)  # beta survives: its client must miss nothing
    await follower.connect()
    load = Load()
    dead: set[str] = set()

    async def at(second: float) -> None:
        await asyncio.sleep(max(0.0, started + second - time.monotonic()))

    async def reconnect(away_sec: float) -> None:
        await follower.disconnect()
        await asyncio.sleep(away_sec)  # events dispatched now reach the client only by the replay
        await follower.connect()

    async def in_flight_on_alpha() -> None:
        """Deliveries alpha is sure to be running (or holding) when it dies."""
        async with httpx.AsyncClient(base_url=alpha.base_url, timeout=30) as client:
            for n in range(2):
                response = await client.post("/events/push", json={
                    "source": f"slow:{n}", "type": LOAD, "delivery": "exactly_once",
                    "payload": {"delay_ms": 4000}})
                assert response.status_code == 202, response.text
                slow.append(response.json()["id"])

    async def meanwhile() -> None:
        await at(RECONNECT_AT_SEC)
        await reconnect(0.5)
        await at(KILL_AT_SEC - 1.5)
        await in_flight_on_alpha()
        await at(KILL_AT_SEC)
        dead.add(alpha.bind)
        os.kill(alpha.process.pid, signal.SIGKILL)
        await asyncio.to_thread(alpha.process.wait, 10)
        # Away while beta notices the death and re-dispatches what alpha left (low seqs).
        await at(KILL_AT_SEC + 1.0)
        await reconnect(1.5)

    slow: list[str] = []
    started = time.monotonic()

    await asyncio.gather(push_load([alpha, beta], load, rate=TARGET_RATE, seconds=PUSH_SEC,
                                   dead=dead),
                         meanwhile())
    phase("load done")
    print(f"accepted {len(load.accepted)} pushes in {load.ended - load.started:.1f}s "
          f"({load.rate:.0f}/s; target {TARGET_RATE:.0f}/s) by daemon {dict(load.by_daemon)}, "
          f"refused or unanswered {dict(load.refused)}; the test process used {load.cpu_sec:.1f}s "
          f"of CPU")
    assert load.accepted and load.by_daemon[alpha.bind] and load.by_daemon[beta.bind]
    accepted = set(load.accepted)
    assert len(accepted) == len(load.accepted)
    accepted.update(slow)

    # 1. Every accepted event is handled: beta takes over what alpha had not finished.
    await wait_for(lambda: not unhandled(accepted, effects, beta), SETTLE_SEC,
                   what=f"all {len(accepted)} accepted events handled")
    phase("all handled")

    # 5. The survivor names both daemons, alpha as dead, and leads every role.
    def beta_leads_all() -> dict[str, Any] | None:
        status = status_of(beta)
        leaders = status["leaders"]
        return status if leaders and set(leaders.values()) == {beta_name} else None

    status = await wait_for(beta_leads_all, 30, what="beta to lead every role")
    assert status["daemon"]["name"] == beta_name
    assert sorted(status["daemon"]["leads"]) == sorted(status["leaders"])
    others = {m["name"]: m for m in status["others"]}
    assert others[alpha_name]["alive"] is False, others
    assert status["taken_over"] >= len(slow), status
    phase("status checked")

    # 4. The stream client on beta saw every accepted event, across its reconnect.
    try:
        await wait_for(lambda: accepted <= set(follower.seen), 30,
                       what="the stream client to have every accepted event")
    except AssertionError:
        missed = sorted(accepted - set(follower.seen))
        sample = [{**beta.client.get(f"/events/dump/{i}").json()["event"],
                   "pushed_to": load.origin[i]} for i in missed[:5]]
        raise AssertionError(
            f"the stream client missed {len(missed)} of {len(accepted)} accepted events "
            f"(lag notices: {follower.lagged}); it resumed from {follower.resumed_from}; "
            f"alpha is {alpha.bind}; missed (seq, pushed to): "
            f"{[(e['seq'], e['pushed_to']) for e in sample]}") from None
    await follower.disconnect()
    assert follower.connections == 3 and not follower.lagged, follower.lagged
    print(f"stream: {len(follower.seen)} events, {sum(follower.seen.values()) - len(follower.seen)}"
          f" duplicates, resumed from {follower.resumed_from}")
    phase("stream checked")

    # 3. Cron: no scheduled time fired twice; the survivor caught up the times around the kill.
    await wait_for(lambda: cron_times(effects)[1] > time.time() * 1000 - 5000, 60,
                   what="cron to fire on beta after the takeover")
    check_cron(effects, beta)
    phase("cron checked")

    # 2. Once per event, unless its exactly-once delivery was interrupted by the kill (DLQ).
    counts = load_counts(effects)
    twice = [i for i, n in counts.items() if n > 1]
    for event_id in twice[:3]:  # how they came to run twice, shown with the failure
        steps = beta.client.get(f"/events/dump/{event_id}").json()["steps"]
        print(f"handled twice: {event_id} (slow: {event_id in slow}): "
              f"{[(s['step'], s['handler']) for s in steps]}")
    interrupted = interrupted_in_dlq(beta)
    print(f"exactly once: {len(counts)} events handled, {len(interrupted)} parked as interrupted "
          f"(of them handled once: {len(interrupted & set(counts))})")
    check_exactly_once(accepted, counts, interrupted)


def cron_times(effects: Path) -> tuple[int, int]:
    """The first and last scheduled time fired (0, 0 before any)."""
    times = [int(s) for _, kind, s in effects_of(effects) if kind == "cron_tick"]
    return (min(times), max(times)) if times else (0, 0)


def check_cron(effects: Path, daemon: Daemon) -> None:
    """Each scheduled time was published as one event; every second between the first and the
    last was either fired or counted as skipped by a run row (what catch-up allows)."""
    fired: dict[int, set[str]] = defaultdict(set)
    for event_id, kind, scheduled in effects_of(effects):
        if kind == "cron_tick":
            fired[int(scheduled)].add(event_id)
    twice = {t: ids for t, ids in fired.items() if len(ids) > 1}
    assert not twice, f"scheduled times published more than once: {twice}"
    response = daemon.client.get(f"/cron/{CRON_JOB}/runs", params={"limit": 200})
    assert response.status_code == 200, response.text
    runs = response.json()["items"]
    ok = Counter(r["scheduled_at"] for r in runs if r["outcome"] == "ok")
    assert all(n == 1 for n in ok.values()), f"a scheduled time ran twice: {ok.most_common(3)}"
    skipped: set[int] = set()
    for run in runs:
        if run["outcome"] == "skipped":
            skipped.update(run["scheduled_at"] + 1000 * k for k in range(run["count"] or 1))
    first, last = min(fired), max(fired)
    missing = [t for t in range(first, last + 1, 1000) if t not in fired and t not in skipped]
    assert not missing, (f"{len(missing)} scheduled time(s) neither fired nor skipped "
                         f"between {first} and {last}: {missing[:10]}; runs: {runs[:20]}")
    print(f"cron: {len(fired)} scheduled times fired, {sum(r['catch_up'] for r in runs)} "
          f"of them caught up, {len(skipped)} counted as skipped")


# --- a clean stop ----------------------------------------------------------------------------

def test_a_clean_stop_hands_pending_events_to_the_other_daemon(
    start_daemon: StartDaemon, pg_server: PgServer, tmp_path: Path,
) -> None:
    url = pg_server.new_database()
    effects = tmp_path / "effects.log"
    slow = cluster_config(url, "alpha", tmp_path, effects, delay_ms=200, cron=False)
    slow["runtime"] = {"drain_timeout_sec": 1}
    alpha = start_daemon(extra_config=slow)
    beta = start_daemon(extra_config=cluster_config(url, "beta", tmp_path, effects,
                                                    delay_ms=200, cron=False))
    wait_for_sync(lambda: others_of(alpha).get("beta", {}).get("alive"), 30,
                  what="alpha to see beta")
    accepted = []
    for n in range(60):  # one source, so one event at a time: 12 s of work
        response = alpha.client.post("/events/push", json={
            "source": "queued", "type": LOAD, "delivery": "exactly_once", "payload": {"n": n}})
        assert response.status_code == 202, response.text
        accepted.append(response.json()["id"])
    assert len(load_counts(effects)) < len(accepted)  # most are still queued on alpha

    assert alpha.stop() == 0  # SIGTERM: drains for 1 s, then gives the rest back
    gave_back = re.search(r"gave back (\d+) pending event", alpha.all_logs())
    assert gave_back and int(gave_back[1]) > 0, alpha.all_logs()[-3000:]
    wait_for_sync(lambda: not unhandled(set(accepted), effects, beta), SETTLE_SEC,
                  what=f"all {len(accepted)} events handled")
    status = status_of(beta)
    assert status["taken_over"] > 0, status
    assert "alpha" not in {m["name"] for m in status["others"]}  # it left the table
    check_exactly_once(set(accepted), load_counts(effects), interrupted_in_dlq(beta))
