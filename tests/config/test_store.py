"""store.url: which backend the store uses, validated with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from aman.config.loader import load_settings
from aman.errors import ConfigError


def test_absent_means_the_embedded_file_under_the_runtime_dir(tmp_path: Path) -> None:
    settings = load_settings(env={"AMAN_RUNTIME__DIR": str(tmp_path)})
    assert settings.store.url is None and not settings.store.is_postgres
    assert settings.database_path == tmp_path / "aman.db"


def test_a_sqlite_url_names_the_file(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "state.db"
    config = tmp_path / "aman.yaml"
    config.write_text(f"store:\n  url: sqlite://{absolute}\n")
    settings = load_settings(config, env={"AMAN_RUNTIME__DIR": str(tmp_path / "home")})
    assert settings.database_path == absolute
    config.write_text("store:\n  url: sqlite://other.db\n")
    settings = load_settings(config, env={"AMAN_RUNTIME__DIR": str(tmp_path / "home")})
    assert settings.database_path == tmp_path / "home" / "other.db"


def test_a_postgresql_url_selects_the_server(tmp_path: Path) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text("store:\n  url: postgresql://aman@127.0.0.1:5432/aman\n")
    settings = load_settings(config, env={})
    assert settings.store.is_postgres
    assert settings.store.url == "postgresql://aman@127.0.0.1:5432/aman"


def test_the_url_may_come_from_the_environment() -> None:
    settings = load_settings(env={"AMAN_STORE__URL": "postgres://u@db.internal/aman"})
    assert settings.store.is_postgres


@pytest.mark.parametrize(("url", "words"), [
    ("mysql://root@localhost/aman", "unknown store backend 'mysql'"),
    ("postgresql://aman@127.0.0.1:5432/", "needs a database name"),
    ("postgresql:///aman", "needs a host"),
    ("postgresql://aman@127.0.0.1:notaport/aman", "not a valid PostgreSQL URL"),
    ("sqlite://", "needs a file path"),
    ("/var/lib/aman.db", "unknown store backend"),
])
def test_a_bad_url_is_a_startup_error_naming_the_key(tmp_path: Path, url: str,
                                                     words: str) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text(f"store:\n  url: {url!r}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert "store.url" in str(info.value)
    assert words in str(info.value)


def test_a_password_in_the_url_is_never_echoed(tmp_path: Path) -> None:
    config = tmp_path / "aman.yaml"
    config.write_text("store:\n  url: postgresql://aman:s3cret-pw@127.0.0.1:5432/\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert "store.url = ***" in str(info.value) and "s3cret-pw" not in str(info.value)
