"""The ``plugin.yaml`` manifest: parsed and validated before any plugin code is imported.

Fields: ``name``, ``version``, ``description``, ``module`` (a ``.py`` file or a package folder
inside the plugin folder), ``aman`` (a version range such as ``">=0.1,<1"``), ``ui.pages``,
``depends_on``, ``config`` (a JSON-schema-like mapping, kept and shown, not yet enforced) and
``enabled_by_default``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aman.errors import InvalidInputError
from aman.parsing import error_summary
from aman.plugins.config import ConfigOption

MANIFEST = "plugin.yaml"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_RANGE_PART = re.compile(r"^(>=|<=|==|!=|>|<)?\s*(\d+(?:\.\d+)*)$")


class ManifestError(InvalidInputError):
    """A plugin manifest is missing or invalid."""

    code = "plugin_manifest_invalid"
    hint = "Fix plugin.yaml; docs/plugins.md lists its fields."


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ManifestPage(_Model):
    """One entry of ``ui.pages``."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    label: str | None = None
    path: str | None = None


class ManifestUi(_Model):
    """The ``ui`` block."""

    pages: list[ManifestPage] = Field(default_factory=list)

    @field_validator("pages", mode="before")
    @classmethod
    def _ids_as_pages(cls, value: Any) -> Any:
        # ``pages: [kanban]`` is short for ``pages: [{id: kanban}]`` (the short form).
        if isinstance(value, list):
            return [{"id": item} if isinstance(item, str) else item for item in value]
        return value


class Dependency(_Model):
    """One entry of ``depends_on``: a plugin name and an optional version range."""

    name: str = Field(pattern=NAME_PATTERN)
    version_range: str | None = None


class Manifest(_Model):
    """A validated ``plugin.yaml``."""

    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=r"^\d+(\.\d+){0,2}([-+.][0-9A-Za-z.-]+)?$")
    description: str = ""
    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.py)?$")
    aman: str | None = Field(None, description="Range of aman versions, e.g. '>=0.1,<1'.")
    ui: ManifestUi = Field(default_factory=ManifestUi)
    depends_on: list[Dependency] = Field(default_factory=list)
    config: dict[str, ConfigOption] = Field(default_factory=dict)
    enabled_by_default: bool = True

    @field_validator("depends_on", mode="before")
    @classmethod
    def _names_as_dependencies(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("aman", "depends_on")
    @classmethod
    def _ranges_parse(cls, value: Any) -> Any:
        ranges = [value] if isinstance(value, str) else [d.version_range for d in value or []]
        for text in ranges:
            if text is not None:
                parse_range(text)
        return value


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = re.match(r"^\d+(?:\.\d+)*", text.strip())
    if parts is None:
        raise ValueError(f"{text!r} is not a version")
    numbers = [int(p) for p in parts.group(0).split(".")]
    return tuple(numbers + [0] * (3 - len(numbers)))


def parse_range(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``">=0.1,<1"`` → ``[(">=", (0, 1, 0)), ("<", (1, 0, 0))]``; ``ValueError`` when malformed."""
    constraints = []
    for part in text.split(","):
        match = _RANGE_PART.match(part.strip())
        if match is None:
            raise ValueError(f"version range {text!r}: cannot read {part.strip()!r}")
        constraints.append((match.group(1) or "==", _version_tuple(match.group(2))))
    return constraints


def in_range(version: str, text: str) -> bool:
    """Whether ``version`` satisfies the range ``text``."""
    have = _version_tuple(version)
    checks = {">=": have.__ge__, "<=": have.__le__, "==": have.__eq__, "!=": have.__ne__,
              ">": have.__gt__, "<": have.__lt__}
    return all(checks[op](bound) for op, bound in parse_range(text))


def parse_manifest(text: str, origin: str) -> Manifest:
    """Validate manifest ``text``; ``ManifestError`` names the field and the file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{origin}: must be a mapping of fields")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{origin}: {error_summary(exc, root='<root>')}") from None


def load_manifest(folder: Path) -> Manifest:
    """Read and validate ``folder/plugin.yaml`` and check that its module exists."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{folder}: no {MANIFEST}", code="plugin_manifest_missing")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable: {exc}") from None
    manifest = parse_manifest(text, str(path))
    if module_path(folder, manifest) is None:
        raise ManifestError(f"{path}: module {manifest.module!r} is neither a .py file nor a "
                            f"package folder inside {folder}")
    return manifest


def module_path(folder: Path, manifest: Manifest) -> Path | None:
    """The file to import: ``<module>.py`` or ``<module>/__init__.py`` inside ``folder``."""
    stem = manifest.module.removesuffix(".py")
    for candidate in (folder / f"{stem}.py", folder / stem / "__init__.py"):
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None
