"""What the plugin host knows about each plugin: its record, state and contributions.

Pure values: discovery (``aman.plugins.discovery``) finds plugins, the contributions module checks
and wires what they return, and the host (``aman.plugins.host``) drives both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aman.errors import AmanError
from aman.plugins.manifest import Manifest
from aman.plugins.model import PluginRoute, UiPage

if TYPE_CHECKING:
    from aman.channels.base import ChannelAdapter
    from aman.plugins.context import PluginContext

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
    #: What its hooks receive, built when it loads (None while it is not loaded).
    context: PluginContext | None = None

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
