"""What the plugin host knows about each plugin, and the checks on what a plugin contributes.

Pure values and functions: the host (``aman.plugins.host``) does the loading and the wiring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aman.errors import AmanError
from aman.plugins.api import PluginRoute, UiPage
from aman.plugins.manifest import Manifest

if TYPE_CHECKING:
    from aman.channels.base import ChannelAdapter

ENABLED, DISABLED, FAILED = "enabled", "disabled", "failed"


class PluginLoadError(AmanError):
    """A plugin could not be loaded or one of its hooks failed; it alone is marked failed."""

    code = "plugin_failed"
    hint = "GET /plugins shows the error; fix the plugin, then POST /plugin/{name}/enable."


@dataclass(frozen=True)
class Limits:
    """How big an install archive may be, unpacked (plugins.max_archive_bytes / _files)."""

    max_bytes: int
    max_files: int


@dataclass
class Contributions:
    """Everything one enabled plugin added to the runtime."""

    routes: list[PluginRoute] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    event_types: list[tuple[str, str]] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)
    pages: list[UiPage] = field(default_factory=list)
    skill_dirs: list[Path] = field(default_factory=list)
    channel_adapters: list[type[ChannelAdapter]] = field(default_factory=list)


@dataclass
class PluginRecord:
    """One discovered plugin: where it came from, its state and what it contributes."""

    name: str
    source: str  # bundled | installed | entrypoint | default
    path: Path | None = None
    manifest: Manifest | None = None
    entry_point: EntryPoint | None = None
    obj: object | None = None  # a default plugin's object
    version: str = ""
    description: str = ""
    state: str = DISABLED
    error: str | None = None
    module_name: str | None = None
    contributions: Contributions = field(default_factory=Contributions)
    #: Its settings from ``plugins.config`` checked against the manifest, defaults filled in.
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """Where the plugin was found, for messages."""
        if self.path is not None:
            return str(self.path)
        return f"entry point {self.entry_point.value}" if self.entry_point else self.source

    def view(self) -> dict[str, Any]:
        """The plugin as ``GET /plugins`` shows it."""
        c = self.contributions
        return {
            "name": self.name, "version": self.version, "description": self.description,
            "state": self.state, "source": self.source, "error": self.error,
            "path": str(self.path) if self.path else None,
            "depends_on": [d.name for d in self.manifest.depends_on] if self.manifest else [],
            "routes": [{"method": r.method, "path": f"/api/v1/{self.name}{r.path}",
                        "public": r.public} for r in c.routes],
            "sources": [s.id for s in c.sources],
            "event_types": [{"event_type": t, "description": d} for t, d in c.event_types],
            "tools": [tool_name(t) for t in c.tools],
            "pages": [page_view(p) for p in c.pages],
        }


def tool_name(tool: Any) -> str:
    """A contributed tool's name, however it is shaped."""
    if isinstance(tool, dict):
        return str(tool.get("name", "?"))
    return str(getattr(tool, "name", None) or getattr(tool, "__name__", None) or tool)


def page_view(page: UiPage) -> dict[str, Any]:
    """``{id, label[, path]}``."""
    view: dict[str, Any] = {"id": page.id, "label": page.label}
    if page.path:
        view["path"] = page.path
    return view


def check_routes(values: list[Any]) -> list[PluginRoute]:
    """``register_routes`` results: PluginRoute values, no (method, path) twice."""
    seen: set[tuple[str, str]] = set()
    for value in values:
        if not isinstance(value, PluginRoute):
            raise PluginLoadError(f"register_routes returned {type(value).__name__}, "
                                  "not aman.plugins.api.PluginRoute")
        key = (value.method, value.path)
        if key in seen:
            raise PluginLoadError(f"register_routes returned {value.method} {value.path} twice")
        seen.add(key)
    return values


def check_event_types(values: list[Any]) -> list[tuple[str, str]]:
    """``register_event_types`` results as (type, description) pairs."""
    pairs = []
    for value in values:
        if isinstance(value, str):
            value = (value, "")
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not all(isinstance(v, str) for v in value) or not value[0]):
            raise PluginLoadError(f"register_event_types returned {value!r}, "
                                  "not a (type, description) pair")
        pairs.append((value[0], value[1]))
    return pairs


def check_pages(manifest: Manifest | None, values: list[Any]) -> list[UiPage]:
    """The manifest's ``ui.pages`` then the hook's; a page id the hook repeats replaces it."""
    pages: dict[str, UiPage] = {}
    for entry in manifest.ui.pages if manifest else []:
        pages[entry.id] = UiPage(entry.id, entry.label or entry.id, entry.path)
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            value = UiPage(value["id"], str(value.get("label") or value["id"]), value.get("path"))
        if not isinstance(value, UiPage):
            raise PluginLoadError(f"register_ui_pages returned {value!r}, not a UiPage "
                                  "or {id, label, path?}")
        pages[value.id] = value
    return list(pages.values())


def check_sources(values: list[Any]) -> list[Any]:
    """``register_event_sources`` results: objects with an id and start/stop."""
    for value in values:
        if not all(hasattr(value, a) for a in ("id", "start", "stop", "state", "health")):
            raise PluginLoadError(f"register_event_sources returned {type(value).__name__}, "
                                  "which does not keep the EventSource protocol")
    return values


def check_channel_adapters(values: list[Any]) -> list[type[ChannelAdapter]]:
    """``register_channel_adapters`` results: classes with a ``platform`` name."""
    for value in values:
        if not isinstance(value, type) or not isinstance(getattr(value, "platform", None), str):
            raise PluginLoadError(f"register_channel_adapters returned {value!r}, which is not "
                                  "a ChannelAdapter class with a platform name")
    return values
