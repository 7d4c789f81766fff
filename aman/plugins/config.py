"""A plugin's settings: declared in its manifest (``config``), given under ``plugins.config``.

The manifest describes each option (``type``, ``default``, ``required``, ``enum``,
``description``); the operator gives values in the config file under
``plugins.config.<plugin>.<option>``. Values are checked when the plugin loads, before any of its
code is imported: an unknown option, a missing required one or a value of the wrong type fails
that plugin alone, with a message naming the key. The plugin reads the result with
``runtime.plugins.config_for("<plugin>")`` (defaults filled in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OptionType = Literal["string", "integer", "number", "boolean", "array", "object"]

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,),
}


class PluginConfigError(ValueError):
    """The values given for a plugin do not fit its manifest's ``config``."""


class ConfigOption(BaseModel):
    """One option a plugin declares in ``plugin.yaml`` under ``config``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: OptionType = Field(description="string | integer | number | boolean | array | object.")
    default: Any = None
    required: bool = False
    enum: list[Any] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_fits(self) -> ConfigOption:
        if self.default is not None:
            problem = self.problem(self.default)
            if problem:
                raise ValueError(f"default {self.default!r} {problem}")
        return self

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit this option, or None."""
        wanted = _PYTHON_TYPES[self.type]
        if isinstance(value, bool) and bool not in wanted or not isinstance(value, wanted):
            return f"is not of type {self.type}"
        if self.enum is not None and value not in self.enum:
            return f"is not one of {self.enum}"
        return None


def resolve_config(plugin: str, options: Mapping[str, ConfigOption],
                   given: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin's settings: ``given`` checked against ``options``, defaults filled in.

    Raises ``PluginConfigError`` listing every problem, each naming its
    ``plugins.config.<plugin>.<option>`` key.
    """
    where = f"plugins.config.{plugin}"
    problems = [f"{where}.{key}: unknown option (the manifest declares "
                f"{', '.join(sorted(options)) or 'none'})" for key in sorted(given)
                if key not in options]
    resolved: dict[str, Any] = {}
    for key, option in options.items():
        if key in given:
            problem = option.problem(given[key])
            if problem:
                problems.append(f"{where}.{key}: {given[key]!r} {problem}")
                continue
            resolved[key] = given[key]
        elif option.required and option.default is None:
            problems.append(f"{where}.{key}: required ({option.description or option.type})")
        else:
            resolved[key] = option.default
    if problems:
        raise PluginConfigError("invalid plugin settings: " + "; ".join(problems))
    return resolved
