"""Every setting and every hookspec is documented (Datasette's test_plugin_hooks_are_documented)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from aman.config.settings import Settings
from aman.plugins import hookspecs

DOCS = Path(__file__).resolve().parent.parent / "docs"


def dotted_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(dotted_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


@pytest.mark.parametrize("key", dotted_keys(Settings))
def test_every_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in (DOCS / "configuration.md").read_text()


HOOKS = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "aman_spec")]


def test_hookspecs_are_found() -> None:
    assert {"startup", "shutdown"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook: str) -> None:
    assert f"`{hook}(" in (DOCS / "plugins.md").read_text()
    assert getattr(hookspecs, hook).__doc__
