"""Configuration layering, validation messages and the loopback rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aman.config.loader import load_settings
from aman.config.reach import InfoHubSettings
from aman.config.settings import DEFAULT_CONFIG_PATH
from aman.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aman.yaml"
    path.write_text(text)
    return path


def test_shipped_default_config_loads_with_documented_defaults() -> None:
    settings = load_settings(env={"AMAN_HOME": "/tmp/aman-x"})
    assert DEFAULT_CONFIG_PATH.is_file()
    assert settings.http.bind == "127.0.0.1:9090"
    assert settings.token_configured is False
    assert settings.runtime.drain_timeout_sec == 30
    assert settings.runtime.force_enable_debug_endpoints is False


def test_layers_apply_lowest_first(tmp_path: Path) -> None:
    config = write(tmp_path, "http:\n  bind: 127.0.0.1:1111\n  token: from-file\n"
                             "runtime:\n  drain_timeout_sec: 5\n")
    env = {"AMAN_HTTP__TOKEN": "from-env", "AMAN_RUNTIME__DRAIN_TIMEOUT_SEC": "7"}
    settings = load_settings(config, env=env, overrides={"http.bind": "127.0.0.1:2222"})
    assert settings.http.bind == "127.0.0.1:2222"  # flag beats file
    assert settings.http.token.get_secret_value() == "from-env"  # env beats file
    assert settings.runtime.drain_timeout_sec == 7.0


def test_aman_config_env_selects_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "http:\n  bind: 127.0.0.1:3333\n")
    assert load_settings(env={"AMAN_CONFIG": str(config)}).http.bind == "127.0.0.1:3333"


def test_placeholders_resolve_from_environment(tmp_path: Path) -> None:
    config = write(tmp_path,
                   'http:\n  token: "${MY_TOKEN}"\nruntime:\n  log_level: "${LVL:-debug}"\n')
    settings = load_settings(config, env={"MY_TOKEN": "s3cret"})
    assert settings.http.token.get_secret_value() == "s3cret"
    assert settings.runtime.log_level == "DEBUG"


def test_missing_placeholder_names_key_and_variable(tmp_path: Path) -> None:
    config = write(tmp_path, 'http:\n  token: "${NOT_SET_ANYWHERE}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert "http.token" in str(info.value)
    assert "NOT_SET_ANYWHERE" in str(info.value)


def test_unknown_key_is_rejected_with_its_path_and_the_allowed_keys(tmp_path: Path) -> None:
    config = write(tmp_path, "http:\n  bnd: 127.0.0.1:1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    message = str(info.value)
    assert "http.bnd" in message
    assert "bind" in message and "max_body_bytes" in message


def test_bad_value_names_key_value_and_rule(tmp_path: Path) -> None:
    config = write(tmp_path, "runtime:\n  drain_timeout_sec: -1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    message = str(info.value)
    assert "runtime.drain_timeout_sec" in message and "-1" in message
    assert "greater than 0" in message


def test_bad_bind_is_rejected() -> None:
    with pytest.raises(ConfigError, match="http.bind"):
        load_settings(env={}, overrides={"http.bind": "localhost"})


def test_token_value_is_never_echoed_in_errors(tmp_path: Path) -> None:
    config = write(tmp_path, "http:\n  token: [not, a, string]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    message = str(info.value)
    assert "http.token = ***" in message
    assert "'not'" not in message


def test_non_loopback_bind_without_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        load_settings(env={}, overrides={"http.bind": "0.0.0.0:9090"})
    settings = load_settings(env={}, overrides={"http.bind": "0.0.0.0:9090", "http.token": "t"})
    assert settings.token_configured


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    config = write(tmp_path, "http:\n  bind: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_settings(config, env={})


def test_relative_paths_in_a_file_are_relative_to_that_file(tmp_path: Path) -> None:
    config = write(tmp_path, "runtime:\n  dir: state\nskills:\n  dirs: [my-skills]\n")
    settings = load_settings(config, env={})
    assert settings.runtime.dir == tmp_path / "state"
    assert settings.skills_dirs == [tmp_path / "my-skills"]


def test_aman_home_sets_the_default_runtime_dir(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAN_HOME", str(tmp_path / "h"))
    assert load_settings(env={}).runtime.dir == tmp_path / "h"


def test_settings_are_frozen() -> None:
    settings = load_settings(env={})
    with pytest.raises(ValidationError):
        settings.http.bind = "x"  # type: ignore[misc]


@pytest.mark.parametrize("key", ["api_key", "secret", "bot_token"])
def test_no_secret_value_is_echoed_in_errors(tmp_path: Path, key: str) -> None:
    if key == "api_key":
        text = "llm:\n  providers:\n    x:\n      kind: openai\n      api_key: [leaked-value-1]\n"
        dotted = "llm.providers.x.api_key"
    else:
        text = (f"channels:\n  generic:\n    one:\n      {key}: [leaked-value-1]\n")
        dotted = f"channels.generic.one.{key}"
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert f"{dotted} = ***" in message and "leaked-value-1" not in message


@pytest.mark.parametrize(("sources", "names"), [
    (["https://example.org/feed.xml"], ["example.org"]),
    (["https://example.org/posts/feed", "https://example.org/comments/feed"],
     ["example.org-posts-feed", "example.org-comments-feed"]),
    (["https://news.example/rss?section=world", "https://news.example/rss?section=tech"],
     ["news.example-rss-section-world", "news.example-rss-section-tech"]),
    (["https://a.example/x", {"url": "https://b.example/y"}], ["a.example", "b.example"]),
    ([{"name": "a.example", "url": "https://z.example/"}, "https://a.example/feed"],
     ["a.example", "a.example-feed"]),
])
def test_feeds_are_named_so_distinct_urls_never_clash(sources: list[object],
                                                      names: list[str]) -> None:
    hub = InfoHubSettings(sources=sources)  # type: ignore[arg-type]
    assert [s.name for s in hub.sources] == names
    assert all(hub.find(s.url) is s and hub.find(s.name) is s for s in hub.sources)


def test_the_same_feed_twice_or_two_equal_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="must be unique"):
        InfoHubSettings(sources=["https://e.org/f", "https://e.org/f"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="must be unique"):
        InfoHubSettings(sources=[{"name": "x", "url": "https://a.org/"},  # type: ignore[list-item]
                                 {"name": "x", "url": "https://b.org/"}])


def test_a_content_rule_without_a_name_is_named_by_its_pattern(tmp_path: Path) -> None:
    config = write(tmp_path, "chat:\n  content_policy:\n"
                             "    - {pattern: 'secret\\d+', action: block}\n"
                             "    - {name: own, pattern: x, action: replace_token}\n")
    rules = load_settings(config, env={}).chat.content_policy
    assert [(r.name, r.pattern) for r in rules] == [(r"secret\d+", r"secret\d+"), ("own", "x")]
