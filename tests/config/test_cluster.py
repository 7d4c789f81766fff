"""cluster.*: a daemon's name among those sharing the store, and when a silent one is dead."""

from __future__ import annotations

from pathlib import Path

import pytest

from aman.config.loader import load_settings
from aman.errors import ConfigError


def test_defaults_suit_one_daemon_and_a_cluster_alike(tmp_path: Path) -> None:
    cluster = load_settings(env={"AMAN_RUNTIME__DIR": str(tmp_path)}).cluster
    assert cluster.node_name is None
    assert cluster.dead_after_sec >= 2 * cluster.heartbeat_sec


@pytest.mark.parametrize(("body", "key", "words"), [
    ("node_name: 'bad name!'", "cluster.node_name", "should match pattern"),
    ("heartbeat_sec: 0", "cluster.heartbeat_sec", "greater than 0"),
    ("heartbeat_sec: 2\n  dead_after_sec: 3", "cluster", "at least twice heartbeat_sec"),
])
def test_a_bad_value_is_a_startup_error_naming_the_key(tmp_path: Path, body: str, key: str,
                                                       words: str) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text(f"cluster:\n  {body}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert key in str(info.value) and words in str(info.value)
