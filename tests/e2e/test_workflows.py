"""Workflows through the real daemon: pushed events walk instances, errors, retry, timeouts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

CONFIRM = {"x-aman-confirm": "yes"}

#: A test workflow: an action running an event skill that the test disables to make it fail,
#: and a 1-second timeout on "waiting".
DELIVERY = """
name: delivery
states: [new, packed, shipped, waiting, expired, error, cancelled]
initial_state: new
final_states: [shipped, expired, cancelled]
error_state: error
transitions:
  - {from: new, event: pack, to: packed}
  - {from: packed, event: ship, to: shipped, action: {skill: courier}}
  - {from: new, event: hold, to: waiting}
state_timeouts:
  - {state: waiting, after: 1s, on_timeout: expired}
"""
COURIER = """
name: courier
triggers: [{event_types: [courier_never]}]
actions: [{emit: {event_type: courier_booked, payload: {order: "{{ payload.order }}"}}}]
"""



def push(daemon: Daemon, instance_id: str, event_type: str, **payload: Any) -> None:
    response = daemon.client.post("/events/push", json={
        "source": "app:e2e", "event_type": event_type,
        "payload": {"workflow_instance_id": instance_id, **payload}})
    assert response.status_code == 202, response.text


def instance(daemon: Daemon, instance_id: str) -> dict[str, Any]:
    response = daemon.client.get(f"/workflow-instance/{instance_id}")
    assert response.status_code == 200
    return dict(response.json())


def wait_state(daemon: Daemon, instance_id: str, state: str,
               timeout: float = 10.0) -> dict[str, Any]:
    return dict(wait_for_sync(
        lambda: (found := instance(daemon, instance_id))["current_state"] == state and found,
        timeout, what=f"instance {instance_id} in {state}"))


def create(daemon: Daemon, workflow: str, data: dict[str, Any] | None = None) -> str:
    response = daemon.client.post(f"/workflow/{workflow}/create", json={"data": data or {}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def prepare_home(home: Path) -> None:
    (home / "workflows").mkdir(parents=True)
    (home / "workflows" / "delivery.yaml").write_text(DELIVERY)
    (home / "skills").mkdir()
    (home / "skills" / "courier.yaml").write_text(COURIER)


def test_approval_walked_by_pushed_events_and_a_guard_rejection(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    approved = create(daemon, "approval", {"title": "new laptop"})
    push(daemon, approved, "submit", has_permission=True)
    wait_state(daemon, approved, "reviewing")
    push(daemon, approved, "approve", by="ana")
    final = wait_state(daemon, approved, "approved")
    assert [h["to"] for h in final["history"]] == ["pending", "reviewing", "approved"]
    assert final["status"] == "finished"

    def stored() -> list[dict[str, Any]]:  # events reach the log a moment after the move
        recent = daemon.client.get("/events/recent?limit=200").json()["items"]
        moves = {e["payload"]["to"] for e in recent if e["event_type"] == "workflow_state_changed"
                 and e["payload"]["instance_id"] == approved}
        granted = any(e["event_type"] == "approval_granted" for e in recent)
        return recent if granted and "approved" in moves else []

    recent = wait_for_sync(stored, what="the approval's events in the log")
    granted = [e for e in recent if e["event_type"] == "approval_granted"]
    assert granted and granted[0]["payload"]["request"] == "new laptop"
    changes = [e for e in recent if e["event_type"] == "workflow_state_changed"
               and e["payload"]["instance_id"] == approved]
    assert {c["payload"]["to"] for c in changes} == {"pending", "reviewing", "approved"}

    # No permission: the guard rejects and on_fail moves the request to rejected.
    refused = create(daemon, "approval", {"title": "yacht"})
    push(daemon, refused, "submit")
    rejected = wait_state(daemon, refused, "rejected")
    assert rejected["history"][-1]["reason"] == "guard_rejected"


def test_action_failure_error_state_retry_and_confirmation(start_daemon: StartDaemon,
                                                           tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_home(home)
    daemon = start_daemon(home=home)
    assert daemon.client.post("/skill/courier/disable", headers=CONFIRM).status_code == 200
    order = create(daemon, "delivery", {"order": "A-1"})
    push(daemon, order, "pack")
    wait_state(daemon, order, "packed")
    push(daemon, order, "ship", order="A-1")
    failed = wait_state(daemon, order, "error")
    assert failed["last_active_state"] == "packed" and "disabled" in failed["last_error"]
    notes = daemon.client.get("/notifications").json()["items"]
    assert any(n["category"] == "workflow" and order in n["message"] for n in notes)

    # Without confirmation: 409 and nothing changes.
    for action in ("retry", "cancel"):
        response = daemon.client.post(f"/workflow-instance/{order}/{action}")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "confirmation_required"
    assert instance(daemon, order)["current_state"] == "error"

    # Fix the cause, retry: back to packed, and the failed "ship" runs again.
    assert daemon.client.post("/skill/courier/enable").status_code == 200
    response = daemon.client.post(f"/workflow-instance/{order}/retry", headers=CONFIRM)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_state"], body["to_state"], body["transitioned"]) == (
        "error", "shipped", True)
    assert [s["to"] for s in body["steps"]] == ["packed", "shipped"]

    # A finished instance allows neither retry nor cancel.
    for action in ("retry", "cancel"):
        response = daemon.client.post(f"/workflow-instance/{order}/{action}", headers=CONFIRM)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "invalid_transition"
        assert "'shipped'" in response.json()["error"]["message"]


def test_state_timeout_fires_live_and_across_a_restart(start_daemon: StartDaemon,
                                                       tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_home(home)
    daemon = start_daemon(home=home)
    live = create(daemon, "delivery")
    push(daemon, live, "hold")
    expired = wait_state(daemon, live, "expired", timeout=5.0)
    assert expired["history"][-1]["reason"] == "timeout"

    # Held, then the daemon stops before the second passes; it fires after the next boot.
    held = create(daemon, "delivery")
    push(daemon, held, "hold")
    due_at = wait_state(daemon, held, "waiting")["timer"]["due_at"]
    assert daemon.stop() == 0
    wait_for_sync(lambda: time.time() * 1000 > due_at, what="the timeout to fall due while down")
    again = start_daemon(home=home)
    fired = wait_state(again, held, "expired", timeout=5.0)
    assert fired["history"][-1]["reason"] == "timeout"
