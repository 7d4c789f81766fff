"""The one rule for secret configuration keys, and the places that use it."""

from __future__ import annotations

import logging
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from aman.config.secrets import REDACTED, is_secret, literal_secrets, secret_values, shown
from aman.config.settings import Settings
from aman.logs import RedactingFormatter


def test_secret_keys_by_name_and_by_type() -> None:
    for key in ("http.token", "llm.providers.x.api_key", "channels.slack.ws.secret",
                "channels.telegram.bot.bot_token", "plugins.config.p.db_password",
                "plugins.config.p.API_KEY"):
        assert is_secret(key), key
    for key in ("http.bind", "llm.providers.x.model", "plugins.config.p.tokens_per_second"):
        assert not is_secret(key), key
    assert is_secret("anything.at.all", SecretStr("x"))
    assert shown("llm.providers.x.api_key", "sk-1") == REDACTED
    assert shown("http.bind", "127.0.0.1:1") == "127.0.0.1:1"


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType, dict, list, tuple):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def test_every_secret_field_of_the_settings_is_named_as_one() -> None:
    """A ``SecretStr`` field the name rule missed would be echoed when its value is invalid."""
    seen: set[type[BaseModel]] = set()
    missed = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.annotation is SecretStr and not is_secret(f"x.{name}"):
                missed.append(f"{model.__name__}.{name}")
            for inner in _models(field.annotation):
                visit(inner)

    visit(Settings)
    assert len(seen) > 10 and missed == []


def test_logs_redact_every_configured_secret() -> None:
    settings = Settings.model_validate({
        "http": {"token": "http-token-1234"},
        "llm": {"providers": {"x": {"kind": "openai", "api_key": "sk-provider-5678"}}},
        "plugins": {"config": {"p": {"api_key": "plugin-key-9", "label": "shown"}}},
    })
    values = secret_values(settings)
    assert {"http-token-1234", "sk-provider-5678", "plugin-key-9"} <= set(values)
    assert "shown" not in values
    line = logging.LogRecord("aman", logging.INFO, __file__, 1,
                             "calling with sk-provider-5678 and http-token-1234", None, None)
    text = RedactingFormatter(values).format(line)
    assert "sk-provider" not in text and "http-token" not in text and text.count("***") == 2


def test_short_values_are_not_searched_for_in_log_lines() -> None:
    settings = Settings.model_validate(
        {"llm": {"providers": {"x": {"kind": "openai", "api_key": "k"}}}})
    assert "k" not in secret_values(settings)


def test_literal_secrets_of_a_file_skip_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "aman.yaml"
    path.write_text("http:\n  token: plain-text-token\n"
                    "llm:\n  providers:\n    a: {kind: openai, api_key: '${KEY}'}\n"
                    "forwarders:\n  - {name: f, url: 'http://x', secret: s3cr3t}\n"
                    "channels:\n  telegram:\n    bot: {secret: '', bot_token: 12345}\n")
    assert literal_secrets(path) == ["http.token", "forwarders.0.secret",
                                     "channels.telegram.bot.bot_token"]
    assert literal_secrets(tmp_path / "absent.yaml") == []
