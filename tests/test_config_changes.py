"""Live configuration changes: the override layer, and ConfigService on a runtime."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from quart import Quart

from aman.config import changes as config_changes
from aman.config.changes import ConfigService
from aman.config.loader import load_settings
from aman.config.override import (
    LIVE_KEYS,
    OVERRIDE_FILE_NAME,
    live_pattern,
    read_override,
    write_override,
)
from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.errors import ConfigError, ConflictError, InternalError
from aman.events.filters import EventFilter
from aman.events.model import Event
from tests.helpers import SettingsFactory, hang, runtime_of, wait_for

CHANNELS: dict[str, Any] = {
    "telegram": {"bot1": {"secret": "old-secret-1", "allowed_chats": ["111"]}},
    "slack": {"ws": {"secret": "slack-secret-2"}},
}


def override_file(runtime: Runtime) -> Path:
    return runtime.settings.runtime.dir / OVERRIDE_FILE_NAME


@pytest.fixture
def aman_logger_level() -> Iterator[None]:
    """runtime.log_level changes the process-wide ``aman`` logger: put it back."""
    logger = logging.getLogger("aman")
    before = logger.level
    yield
    logger.setLevel(before)


@pytest.fixture
async def channel_runtime(make_settings: SettingsFactory) -> AsyncIterator[Runtime]:
    app: Quart = create_app(make_settings(channels=CHANNELS))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield runtime_of(app)


def captured(runtime: Runtime, event_type: str) -> list[Event]:
    seen: list[Event] = []
    runtime.bus.observe(lambda e: seen.append(e) if e.event_type == event_type else None)
    return seen


# --- the override file and its layer ---------------------------------------------------------


def test_live_patterns_match_one_segment_per_star() -> None:
    assert live_pattern("event_bus.max_queue_size") == "event_bus.max_queue_size"
    assert live_pattern("channels.telegram.bot1.secret") == "channels.*.*.secret"
    assert live_pattern("channels.telegram.secret") is None
    assert live_pattern("http.bind") is None
    assert live_pattern("event_bus.workers") is None


def test_override_file_is_nested_yaml_with_a_header_and_private(tmp_path: Path) -> None:
    path = tmp_path / OVERRIDE_FILE_NAME
    write_override(path, {"event_bus.max_queue_size": 50, "channels.telegram.bot1.enabled": False})
    text = path.read_text()
    assert text.startswith("# Written by POST /config/set")
    assert yaml.safe_load(text) == {
        "channels": {"telegram": {"bot1": {"enabled": False}}},
        "event_bus": {"max_queue_size": 50},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*.tmp"))
    assert read_override(path) == {"event_bus.max_queue_size": 50,
                                   "channels.telegram.bot1.enabled": False}


def test_override_layer_sits_between_the_file_and_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_override(home / OVERRIDE_FILE_NAME,
                   {"event_bus.max_queue_size": 50, "runtime.drain_timeout_sec": 9})
    config = tmp_path / "aman.yaml"
    config.write_text("event_bus:\n  max_queue_size: 20\n  max_retries: 1\n"
                      "runtime:\n  drain_timeout_sec: 4\n")
    settings = load_settings(config, env={"AMAN_RUNTIME__DRAIN_TIMEOUT_SEC": "12"},
                             overrides={"runtime.dir": str(home)})
    assert settings.event_bus.max_queue_size == 50  # override beats the file
    assert settings.event_bus.max_retries == 1  # untouched keys keep the file's value
    assert settings.runtime.drain_timeout_sec == 12  # the environment beats the override


def test_override_file_found_through_runtime_dir_of_file_or_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_override(home / OVERRIDE_FILE_NAME, {"notifications.max_stored": 77})
    config = tmp_path / "aman.yaml"
    config.write_text("runtime:\n  dir: home\n")  # relative to the file's folder
    assert load_settings(config, env={}).notifications.max_stored == 77
    assert load_settings(env={"AMAN_RUNTIME__DIR": str(home)}).notifications.max_stored == 77


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("event_bus:\n  max_queue_size: [1\n", "not valid YAML at line"),
        ("http:\n  bind: 0.0.0.0:1\n", "http.bind"),
        ("event_bus:\n  no_such_key: 1\n", "event_bus.no_such_key"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_a_broken_override_file_stops_startup_naming_file_and_key(
    tmp_path: Path, content: str, named: str
) -> None:
    (tmp_path / OVERRIDE_FILE_NAME).write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, overrides={"runtime.dir": str(tmp_path)})
    assert str(tmp_path / OVERRIDE_FILE_NAME) in str(caught.value)
    assert named in str(caught.value)


def test_an_invalid_value_in_the_override_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    (tmp_path / OVERRIDE_FILE_NAME).write_text("event_bus:\n  max_queue_size: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, overrides={"runtime.dir": str(tmp_path)})
    assert "event_bus.max_queue_size = 0" in str(caught.value)
    assert OVERRIDE_FILE_NAME in str(caught.value)


def test_every_live_key_has_an_applier_or_construction_fails(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="event_bus.max_queue_size"):
        ConfigService(settings=lambda: runtime.settings, swap=lambda s: None,
                      appliers={k: None for k in LIVE_KEYS if k != "event_bus.max_queue_size"},
                      audit=runtime.audit, bus=runtime.bus, override_path=Path("x"), environ={})


# --- each class of live key takes effect -------------------------------------------------------


async def test_queue_limit_changes_the_bus_capacity_and_persists(runtime: Runtime) -> None:
    applied = await runtime.config.set({"event_bus.max_queue_size": 50}, operator="tester")
    assert applied.to_json()["applied"] == {"event_bus.max_queue_size": 50}
    assert applied.to_json()["previous"] == {"event_bus.max_queue_size": 10_000}
    assert runtime.bus.max_queue_size == 50
    assert runtime.settings.event_bus.max_queue_size == 50
    assert read_override(override_file(runtime)) == {"event_bus.max_queue_size": 50}
    # The same layering at the next start yields the new value.
    restarted = load_settings(env={}, overrides={"runtime.dir": str(runtime.settings.runtime.dir)})
    assert restarted.event_bus.max_queue_size == 50


async def test_rate_limits_apply_to_the_limiter_at_once(runtime: Runtime) -> None:
    await runtime.config.set({"event_bus.rate_limit_per_sec": 2, "event_bus.rate_limit_burst": 1},
                             operator="tester")
    assert runtime.rate_limiter.rate == 2 and runtime.rate_limiter.burst == 1
    now = runtime.clock.monotonic()
    assert runtime.rate_limiter.acquire("src", now) == 0.0
    assert runtime.rate_limiter.acquire("src", now) > 0  # the burst of one is used up


async def test_handler_timeout_and_retries_apply_to_new_deliveries(runtime: Runtime) -> None:
    await runtime.config.set({"event_bus.handler_timeout_sec": 0.05, "event_bus.max_retries": 0,
                              "event_bus.retry_backoff_ms": [10, 20]}, operator="tester")
    assert runtime.bus.retry.max_retries == 0 and runtime.bus.retry.backoff_ms == (10, 20)

    async def slow(event: Event) -> None:
        await hang()

    # No timeout of its own: the bus default in force applies.
    runtime.bus.subscribe("slow", slow, EventFilter(event_types=frozenset({"slow_thing"})))
    before = runtime.bus.stats.dead_lettered
    await runtime.bus.publish(Event.create(source="test", event_type="slow_thing", payload={}))
    await asyncio.wait_for(runtime.bus.wait_idle(), timeout=3)
    assert runtime.bus.stats.dead_lettered == before + 1  # timed out once, no retry


async def test_keys_read_at_use_time_only_swap_the_settings(runtime: Runtime) -> None:
    await runtime.config.set({"event_bus.retention_days": 1.5, "stream.heartbeat_sec": 3,
                              "runtime.drain_timeout_sec": 7}, operator="tester")
    assert runtime.settings.event_bus.retention_days == 1.5
    assert runtime.settings.stream.heartbeat_sec == 3
    assert runtime.settings.runtime.drain_timeout_sec == 7


async def test_dlq_and_notification_limits_apply(runtime: Runtime) -> None:
    await runtime.config.set({"dlq.ttl_days": 2, "dlq.max_manual_retries": 9,
                              "notifications.max_stored": 20}, operator="tester")
    assert runtime.dlq.ttl_ms == 2 * 86_400_000 and runtime.dlq.max_manual_retries == 9
    assert runtime.notifications.max_stored == 20


async def test_log_level_applies_to_the_aman_logger(
    runtime: Runtime, aman_logger_level: None
) -> None:
    applied = await runtime.config.set({"runtime.log_level": "debug"}, operator="tester")
    assert applied.to_json()["applied"] == {"runtime.log_level": "DEBUG"}  # as validated
    assert logging.getLogger("aman").level == logging.DEBUG


async def test_skills_debounce_restarts_the_watch_with_it(runtime: Runtime) -> None:
    watcher = runtime.skills.watcher
    assert watcher.debounce_ms == 300
    await runtime.config.set({"skills.debounce_ms": 40}, operator="tester")
    assert watcher.debounce_ms == 40
    await wait_for(lambda: watcher.running and watcher.armed.is_set(),
                   what="the skill watch to run again, armed")


async def test_channel_keys_rebuild_the_instance(channel_runtime: Runtime) -> None:
    rt = channel_runtime
    old_adapter = rt.channels.get("telegram", "bot1")
    await rt.config.set({"channels.telegram.bot1.enabled": False,
                         "channels.telegram.bot1.allowed_chats": ["222"]}, operator="tester")
    adapter = rt.channels.get("telegram", "bot1")
    assert adapter is not old_adapter
    assert adapter.config.enabled is False and adapter.config.allowed_chats == ["222"]
    assert adapter.config.secret.get_secret_value() == "old-secret-1"  # the rest is kept


# --- audit, event, redaction -------------------------------------------------------------------


async def test_change_is_audited_and_announced_with_secrets_redacted(
    channel_runtime: Runtime,
) -> None:
    rt = channel_runtime
    events = captured(rt, "config_changed")
    applied = await rt.config.set({"channels.slack.ws.secret": "new-secret-3",
                                   "event_bus.max_retries": 5}, operator="alice", request_id="r1")
    assert rt.channels.get("slack", "ws").config.secret.get_secret_value() == "new-secret-3"
    assert applied.to_json()["applied"] == {"channels.slack.ws.secret": "***",
                                            "event_bus.max_retries": 5}
    [record], _ = await rt.audit.query(config_changes_query())
    assert record.operator == "alice" and record.request_id == "r1"
    assert record.detail["changes"] == {
        "channels.slack.ws.secret": {"old": "***", "new": "***"},
        "event_bus.max_retries": {"old": 3, "new": 5},
    }
    await wait_for(lambda: len(events) == 1)
    [event] = events
    assert event.source == "system:config"
    assert event.payload["changed_fields"] == ["channels.slack.ws.secret", "event_bus.max_retries"]
    assert "new-secret-3" not in repr(event.payload) and "slack-secret-2" not in repr(event.payload)
    # The secret itself must survive a restart, so the private file holds it.
    assert read_override(override_file(rt))["channels.slack.ws.secret"] == "new-secret-3"


def config_changes_query() -> Any:
    from aman.audit.model import AuditQuery

    return AuditQuery(action="config.set")


async def test_later_changes_keep_earlier_ones_in_the_file(runtime: Runtime) -> None:
    await runtime.config.set({"event_bus.max_queue_size": 50}, operator="t")
    await runtime.config.set({"dlq.ttl_days": 3}, operator="t")
    assert read_override(override_file(runtime)) == {"event_bus.max_queue_size": 50,
                                                     "dlq.ttl_days": 3.0}


# --- refusals change nothing -------------------------------------------------------------------


async def assert_nothing_changed(runtime: Runtime) -> None:
    assert runtime.bus.max_queue_size == 10_000
    assert runtime.settings.event_bus.max_queue_size == 10_000
    assert not override_file(runtime).exists()
    assert (await runtime.audit.query(config_changes_query()))[0] == []


async def test_unknown_key_is_refused_with_similar_live_keys(runtime: Runtime) -> None:
    with pytest.raises(ConfigError) as caught:
        await runtime.config.set({"event_bus.max_queue_size": 50, "event_bus.max_queue": 5},
                                 operator="t")
    assert caught.value.code == "unknown_config_key"
    assert "event_bus.max_queue" in caught.value.message
    assert "event_bus.max_queue_size" in caught.value.details["similar"]
    await assert_nothing_changed(runtime)


@pytest.mark.parametrize("key", ["event_bus", "channels.telegram.nobody.enabled"])
async def test_sections_and_unconfigured_instances_are_unknown(runtime: Runtime, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await runtime.config.set({key: 1}, operator="t")
    assert caught.value.code == "unknown_config_key"


@pytest.mark.parametrize("key", ["http.bind", "event_bus.workers", "runtime.dir"])
async def test_restart_only_key_is_refused(runtime: Runtime, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await runtime.config.set({"event_bus.max_queue_size": 50, key: "x"}, operator="t")
    assert caught.value.code == "config_restart_required"
    assert key in caught.value.message and "restart" in caught.value.hint
    await assert_nothing_changed(runtime)


@pytest.mark.parametrize("variable", ["AMAN_EVENT_BUS__MAX_QUEUE_SIZE", "AMAN_EVENT_BUS__X"])
async def test_key_pinned_by_the_environment_is_refused(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "5")
    if variable.endswith("__X"):  # only a variable for the key or a section above it pins
        await runtime.config.set({"event_bus.max_queue_size": 50}, operator="t")
        return
    with pytest.raises(ConfigError) as caught:
        await runtime.config.set({"event_bus.max_queue_size": 50}, operator="t")
    assert caught.value.code == "config_key_pinned"
    assert variable in caught.value.message
    await assert_nothing_changed(runtime)


async def test_invalid_value_names_key_value_and_rule(runtime: Runtime) -> None:
    with pytest.raises(ConfigError) as caught:
        await runtime.config.set({"dlq.ttl_days": 3, "event_bus.max_queue_size": 0}, operator="t")
    assert caught.value.code == "invalid_config_value"
    [field] = caught.value.details["fields"]
    assert field["key"] == "event_bus.max_queue_size" and field["value"] == 0
    assert "greater than or equal to 1" in field["rule"]
    assert runtime.dlq.ttl_ms == 30 * 86_400_000
    await assert_nothing_changed(runtime)


async def test_invalid_secret_value_is_not_echoed(channel_runtime: Runtime) -> None:
    with pytest.raises(ConfigError) as caught:
        await channel_runtime.config.set({"channels.slack.ws.secret": ["not", "a", "string"]},
                                         operator="t")
    assert caught.value.details["fields"][0]["value"] == "***"


# --- applying is atomic ------------------------------------------------------------------------


async def test_a_failing_applier_rolls_back_the_ones_before(channel_runtime: Runtime) -> None:
    rt = channel_runtime
    rt.channels.remove_platform("slack")  # its plugin disabled: the instance cannot be rebuilt
    with pytest.raises(ConflictError) as caught:
        await rt.config.set({"event_bus.max_queue_size": 77,
                             "channels.telegram.bot1.enabled": False,
                             "channels.slack.ws.enabled": False}, operator="t")
    assert caught.value.code == "config_apply_failed" and "rolled back" in caught.value.message
    assert rt.bus.max_queue_size == 10_000
    assert rt.channels.get("telegram", "bot1").config.enabled is True
    assert rt.settings.event_bus.max_queue_size == 10_000
    assert not override_file(rt).exists()


async def test_a_failing_write_rolls_back_everything(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, flat: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_changes, "write_override", broken)
    with pytest.raises(InternalError) as caught:
        await runtime.config.set({"event_bus.max_queue_size": 77, "event_bus.rate_limit_burst": 3},
                                 operator="t")
    assert caught.value.code == "config_apply_failed"
    assert runtime.bus.max_queue_size == 10_000 and runtime.rate_limiter.burst == 200
    await assert_nothing_changed(runtime)


async def test_live_keys_lists_values_pins_and_instances(
    channel_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMAN_DLQ__TTL_DAYS", "4")
    keys = {entry["key"]: entry for entry in channel_runtime.config.live_keys()}
    assert keys["event_bus.max_queue_size"]["value"] == 10_000
    assert keys["channels.slack.ws.secret"]["value"] == "***"
    assert keys["channels.telegram.bot1.allowed_chats"]["value"] == ["111"]
    assert keys["dlq.ttl_days"]["pinned_by"] == "AMAN_DLQ__TTL_DAYS"
    assert "channels.*.*.secret" not in keys
    assert os.environ["AMAN_DLQ__TTL_DAYS"] == "4"


async def test_unset_returns_a_key_to_the_file_and_drops_it_from_the_override(
        client: Any, runtime: Runtime) -> None:
    confirm = {"x-aman-confirm": "yes"}
    shipped = load_settings(env={}).event_bus.max_queue_size
    changed = await client.post("/config/set", headers=confirm, json={
        "changes": {"event_bus.max_queue_size": shipped + 1234, "dlq.ttl_days": 3}})
    assert changed.status_code == 200, await changed.get_data(as_text=True)
    assert runtime.bus.max_queue_size == shipped + 1234

    events: list[Event] = []
    runtime.bus.observe(events.append)
    undone = await client.post("/config/unset", headers=confirm,
                               json={"keys": ["event_bus.max_queue_size"]})
    assert undone.status_code == 200, await undone.get_data(as_text=True)
    body = await undone.get_json()
    assert body["applied"] == {"event_bus.max_queue_size": shipped}
    assert body["previous"] == {"event_bus.max_queue_size": shipped + 1234}
    assert runtime.settings.event_bus.max_queue_size == shipped
    assert runtime.bus.max_queue_size == shipped  # the applier ran
    assert read_override(override_file(runtime)) == {"dlq.ttl_days": 3}
    await wait_for(lambda: any(e.event_type == "config_changed" and e.payload.get("unset")
                                 for e in events))
    audit = await (await client.get("/audit-log?action=config.unset")).get_json()
    assert audit["items"][0]["detail"]["changes"]["event_bus.max_queue_size"]["new"] == shipped

    again = await client.post("/config/unset", headers=confirm,
                              json={"keys": ["event_bus.max_queue_size"]})
    error = (await again.get_json())["error"]
    assert again.status_code == 400 and error["code"] == "config_key_not_set"
    assert "dlq.ttl_days" in error["message"]
    unconfirmed = await client.post("/config/unset", json={"keys": ["dlq.ttl_days"]})
    assert unconfirmed.status_code == 409
    assert read_override(override_file(runtime)) == {"dlq.ttl_days": 3}
