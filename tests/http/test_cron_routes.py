"""The cron routes through the app: add, list, one job, update, remove, runs, errors, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from aman.core.runtime import Runtime
from aman.events.filters import EventFilter
from aman.events.model import Event
from tests.helpers import wait_for

if TYPE_CHECKING:  # a module-level name starting with "Test" would be collected by pytest
    from quart.typing import TestClientProtocol

HOURLY = {"id": "hourly", "expression": "0 * * * *"}


async def add(client: TestClientProtocol, **body: Any) -> dict[str, Any]:
    response = await client.post("/cron/add", json=body)
    assert response.status_code == 201, await response.get_json()
    job: dict[str, Any] = await response.get_json()
    return job


async def jobs(client: TestClientProtocol) -> list[dict[str, Any]]:
    body = await (await client.get("/cron")).get_json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_json()
    error: dict[str, Any] = (await response.get_json())["error"]
    return error


async def test_add_list_get_with_defaults(client: TestClientProtocol) -> None:
    assert await jobs(client) == []
    job = await add(client, **HOURLY)
    assert {k: job[k] for k in ("id", "expression", "timezone", "event_type", "payload",
                                "priority", "enabled", "catch_up", "origin")} == {
        "id": "hourly", "expression": "0 * * * *", "timezone": "UTC", "event_type": "cron_tick",
        "payload": {}, "priority": "normal", "enabled": True, "catch_up": "latest",
        "origin": "api"}
    assert job["next_run_at"] > job["created_at"]
    assert job["next_run_at"] % 3_600_000 == 0
    assert job["last_run_at"] is None and job["last_outcome"] is None
    assert [j["id"] for j in await jobs(client)] == ["hourly"]
    assert (await (await client.get("/cron/hourly")).get_json())["id"] == "hourly"


async def test_a_disabled_job_has_no_next_run(client: TestClientProtocol) -> None:
    job = await add(client, id="off", expression="* * * * *", enabled=False,
                    timezone="Europe/Berlin", catch_up="all", priority="high",
                    event_type="report_due", payload={"kind": "weekly"})
    assert job["next_run_at"] is None and job["timezone"] == "Europe/Berlin"
    assert (job["catch_up"], job["priority"], job["payload"]) == ("all", "high", {"kind": "weekly"})


@pytest.mark.parametrize(("body", "code", "words"), [
    ({"id": "x", "expression": "* * *"}, "invalid_cron_expression", "has 3 field(s); expected 5"),
    ({"id": "x", "expression": "0 25 * * *"}, "invalid_cron_expression", "hour field '25'"),
    ({"id": "x", "expression": "0 0 30 2 *"}, "invalid_cron_expression", "never fires"),
    ({"id": "x", "expression": "* * * * *", "timezone": "Mars/Base"}, "invalid_timezone",
     "Mars/Base"),
    ({"id": "x", "expression": "* * * * *", "color": "red"}, "validation_error", "color"),
    ({"id": "x y", "expression": "* * * * *"}, "validation_error", "id"),
    ({"id": "x", "expression": "* * * * *", "catch_up": "some"}, "validation_error", "catch_up"),
    ({"id": "x", "expression": "* * * * *", "payload": {"cron": 1}}, "validation_error",
     "reserved"),
])
async def test_bad_jobs_are_refused_and_nothing_is_stored(
    client: TestClientProtocol, body: dict[str, Any], code: str, words: str,
) -> None:
    error = await error_of(await client.post("/cron/add", json=body), 400)
    assert error["code"] == code and words in error["message"] and error["hint"]
    assert await jobs(client) == []


async def test_a_duplicate_id_is_a_conflict(client: TestClientProtocol) -> None:
    await add(client, **HOURLY)
    error = await error_of(await client.post("/cron/add",
                                             json={**HOURLY, "expression": "* * * * *"}),
                           409)
    assert error["code"] == "cron_job_exists" and "hourly" in error["message"]
    assert [j["expression"] for j in await jobs(client)] == ["0 * * * *"]


async def test_update_is_partial_and_validated(client: TestClientProtocol) -> None:
    created = await add(client, **HOURLY, payload={"a": 1})
    response = await client.post("/cron/hourly/update", json={"catch_up": "skip"})
    assert response.status_code == 200
    updated = await response.get_json()
    assert updated["catch_up"] == "skip" and updated["payload"] == {"a": 1}
    assert updated["next_run_at"] == created["next_run_at"]
    moved = await (await client.post("/cron/hourly/update",
                                     json={"expression": "30 6 * * *"})).get_json()
    assert moved["next_run_at"] % 86_400_000 == (6 * 60 + 30) * 60_000
    disabled = await (await client.post("/cron/hourly/update", json={"enabled": False})).get_json()
    assert disabled["enabled"] is False and disabled["next_run_at"] is None
    error = await error_of(await client.post("/cron/hourly/update",
                                             json={"timezone": "Nowhere/Land"}), 400)
    assert error["code"] == "invalid_timezone"
    unchanged = await client.post("/cron/hourly/update", json={"enabled": None})
    assert unchanged.status_code == 200  # nothing to change: the job as it is
    assert (await unchanged.get_json())["expression"] == "30 6 * * *"
    current = await (await client.get("/cron/hourly")).get_json()
    assert (current["timezone"], current["expression"]) == ("UTC", "30 6 * * *")


async def test_unknown_ids_are_404(client: TestClientProtocol) -> None:
    for method, path, body in [("get", "/cron/nope", None), ("get", "/cron/nope/runs", None),
                               ("post", "/cron/nope/update", {"enabled": False}),
                               ("post", "/cron/nope/remove", None)]:
        response = await getattr(client, method)(path, json=body) if body else \
            await getattr(client, method)(path)
        error = await error_of(response, 404)
        assert error["code"] == "cron_job_not_found" and "GET /cron" in error["hint"]


async def test_remove_deletes_the_job(client: TestClientProtocol) -> None:
    await add(client, **HOURLY)
    response = await client.post("/cron/hourly/remove")
    body = await response.get_json()
    assert response.status_code == 200 and body["ok"] and body["removed"]["id"] == "hourly"
    assert await jobs(client) == []
    await add(client, **HOURLY)  # the id is free again


async def test_changes_are_audited_with_old_and_new_values(client: TestClientProtocol) -> None:
    await add(client, **HOURLY)
    await client.post("/cron/hourly/update", json={"expression": "*/5 * * * *"})
    await client.post("/cron/hourly/remove")
    records = (await (await client.get("/audit-log?action=cron.*")).get_json())["items"]
    by_action = {r["action"]: r for r in records}
    assert set(by_action) == {"cron.add", "cron.update", "cron.remove"}
    update = by_action["cron.update"]
    assert update["target"] == "cron:hourly" and update["outcome"] == "ok"
    assert update["detail"]["old"]["expression"] == "0 * * * *"
    assert update["detail"]["new"]["expression"] == "*/5 * * * *"
    assert by_action["cron.add"]["detail"]["new"]["id"] == "hourly"
    assert by_action["cron.remove"]["detail"]["new"] is None


async def test_a_job_fires_through_the_bus_and_its_runs_are_listed(
    client: TestClientProtocol, runtime: Runtime,
) -> None:
    seen: list[Event] = []

    async def capture(event: Event) -> None:
        seen.append(event)

    runtime.bus.subscribe("test-capture", capture, EventFilter(sources=frozenset({"cron:tick"})))
    await add(client, id="tick", expression="* * * * * *", event_type="tick_seen",
              priority="high", payload={"n": 1})
    await wait_for(lambda: len(seen) >= 2, timeout=4.0)
    event = seen[0]
    assert (event.event_type, event.priority.value, event.payload["n"]) == ("tick_seen", "high", 1)
    cron = event.payload["cron"]
    assert cron["job_id"] == "tick" and cron["expression"] == "* * * * * *"
    assert cron["catch_up"] is False and cron["scheduled_at_ms"] % 1000 == 0
    assert cron["fired_at_ms"] >= cron["scheduled_at_ms"]
    assert event.dedup_key == f"cron:tick:{cron['scheduled_at_ms']}"

    # A run is recorded just after its event is published: wait for the second record.
    async def two_runs() -> bool:
        runs = await (await client.get("/cron/tick/runs")).get_json()
        return len(runs["items"]) >= 2

    await wait_for(two_runs, what="a second run record")
    page = await (await client.get("/cron/tick/runs?limit=1")).get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    newest = page["items"][0]
    assert newest["outcome"] == "ok" and newest["event_id"] and newest["catch_up"] is False
    older = await (await client.get(f"/cron/tick/runs?limit=1&cursor={page['next_cursor']}")
                   ).get_json()
    assert older["items"][0]["seq"] < newest["seq"]
    assert older["items"][0]["scheduled_at"] < newest["scheduled_at"]
    job = await (await client.get("/cron/tick")).get_json()
    assert job["last_outcome"] == "ok" and job["last_run_at"] is not None
    error = await error_of(await client.get("/cron/tick/runs?cursor=bogus"), 400)
    assert error["code"] == "invalid_cursor"


async def test_run_now_fires_once_and_keeps_the_schedule(client: TestClientProtocol,
                                                         runtime: Runtime) -> None:
    job = await add(client, id="report", expression="0 0 1 1 *", event_type="report_due",
                    enabled=False)
    seen: list[Event] = []
    runtime.bus.subscribe("probe", lambda event: _record(seen, event),
                          EventFilter(event_types=frozenset({"report_due"})))
    response = await client.post("/cron/report/run", headers={"x-aman-operator": "alice"})
    assert response.status_code == 200
    run = (await response.get_json())["run"]
    assert run["outcome"] == "ok" and run["note"] == "run now" and run["event_id"]
    await wait_for(lambda: [e.id for e in seen] == [run["event_id"]])
    again = await (await client.get("/cron/report")).get_json()
    assert again["last_outcome"] == "ok" and again["next_run_at"] == job["next_run_at"] is None
    runs = (await (await client.get("/cron/report/runs")).get_json())["items"]
    assert [r["seq"] for r in runs] == [run["seq"]]
    audit = await (await client.get("/audit-log?action=cron.run")).get_json()
    assert audit["items"][0]["operator"] == "alice"
    missing = await client.post("/cron/nope/run")
    assert (await error_of(missing, 404))["code"] == "cron_job_not_found"


async def _record(seen: list[Event], event: Event) -> None:
    seen.append(event)
