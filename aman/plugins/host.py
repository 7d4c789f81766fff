"""PluginHost: the per-Runtime pluggy manager, discovery, isolation and runtime enable/disable.

Plugins come from folders (``settings.plugins_dirs`` plus ``<runtime.dir>/plugins``, each plugin
a folder with ``plugin.yaml``, validated before any of its code is imported) and from the
``aman.plugins`` entry-point group. Each is loaded alone: a bad manifest, an import error, an
unknown hook name (``check_pending`` after each registration) or a hook that raises marks that
plugin ``failed`` and the daemon goes on. Enabled/disabled is persisted; enabling and disabling
at runtime adds and removes routes, sources, event types, tools and pages without a restart.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from aman import __version__
from aman.clock import Clock
from aman.errors import (
    ConflictError,
    NotFoundError,
    StartupError,
    UnavailableError,
    UnprocessableError,
)
from aman.events.types import BUILTIN_TYPES, PLUGIN_STATE_CHANGED
from aman.plugins import hookspecs
from aman.plugins.api import PluginRoute, UiPage
from aman.plugins.config import resolve_config
from aman.plugins.manifest import ManifestError, in_range, load_manifest, module_path
from aman.plugins.records import (
    DISABLED,
    ENABLED,
    FAILED,
    Contributions,
    Limits,
    PluginLoadError,
    PluginRecord,
    check_channel_adapters,
    check_event_types,
    check_pages,
    check_routes,
    check_sources,
)

if TYPE_CHECKING:
    from aman.core.runtime import Runtime
    from aman.plugins.model import PluginStateRepository

log = logging.getLogger(__name__)

#: Set to 1 to log every hook call with its arguments and results (Datasette's trace switch).
TRACE_ENV = "AMAN_TRACE_PLUGIN_HOOKS"
ENTRY_POINT_GROUP = "aman.plugins"
_SOURCE_TIMEOUT_SEC = 5.0
_REGISTRATION_HOOKS = ("register_routes", "register_event_sources", "register_event_types",
                       "register_tools", "register_ui_pages", "register_skill_folders",
                       "register_channel_adapters")


async def resolve(result: Any) -> Any:
    """Await ``result`` if it is awaitable (pluggy itself is synchronous)."""
    if inspect.isawaitable(result):
        return await result
    return result


class PluginHost:
    """Owns the PluginManager of one Runtime and the record of every plugin it found."""

    def __init__(self, *, dirs: Iterable[Path] = (), install_dir: Path | None = None,
                 state: PluginStateRepository | None = None, clock: Clock | None = None,
                 limits: Limits | None = None, defaults: Iterable[tuple[str, object]] = (),
                 entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._dirs = list(dirs)
        self._install_dir = install_dir
        if install_dir is not None and install_dir not in self._dirs:
            self._dirs.append(install_dir)
        self._state = state
        self._clock = clock
        self._limits = limits or Limits(20 * 1024 * 1024, 1000)
        self._defaults = list(defaults)
        self._group = entry_point_group
        self.manager = self._new_manager()
        self._records: dict[str, PluginRecord] = {}
        self._rejected: list[PluginRecord] = []  # same name found twice
        self._owners: dict[tuple[str, str], str] = {}  # (kind, id) → plugin
        self._runtime: Runtime | None = None
        self._lock = asyncio.Lock()
        self._undo_trace: Any = None
        self._imports = 0

    @staticmethod
    def _new_manager() -> pluggy.PluginManager:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        return manager

    # --- views ---------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Names of enabled plugins, in load order."""
        return [r.name for r in self._records.values() if r.state == ENABLED]

    def failures(self) -> dict[str, str]:
        """Failed plugins and why (``/debug/metrics``)."""
        return {r.name: r.error or "" for r in [*self._records.values(), *self._rejected]
                if r.state == FAILED}

    def views(self) -> list[dict[str, Any]]:
        """Every plugin found, as ``GET /plugins`` lists it."""
        return [r.view() for r in [*self._records.values(), *self._rejected]]

    def view(self, name: str) -> dict[str, Any]:
        """One plugin's view; 404 when unknown."""
        return self._get(name).view()

    def pages(self) -> list[dict[str, Any]]:
        """UI pages of enabled plugins: ``[{id, label, plugin[, path]}]``."""
        return [{"id": p.id, "label": p.label, "plugin": r.name,
                 **({"path": p.path} if p.path else {})}
                for r in self._records.values() if r.state == ENABLED
                for p in r.contributions.pages]

    def routes_of(self, name: str) -> list[PluginRoute]:
        """The routes of plugin ``name`` if it is enabled, else none."""
        record = self._records.get(name)
        return record.contributions.routes if record and record.state == ENABLED else []

    def tools(self) -> list[tuple[str, Any]]:
        """(plugin, tool) for every tool of an enabled plugin."""
        return [(r.name, t) for r in self._records.values() if r.state == ENABLED
                for t in r.contributions.tools]

    async def llm_provider(self, settings: Any) -> Any:
        """The first provider a plugin offers (``llm_provider`` is firstresult), or None."""
        return await resolve(self.manager.hook.llm_provider(settings=settings))

    def _get(self, name: str) -> PluginRecord:
        record = self._records.get(name)
        if record is None:
            raise NotFoundError(f"no plugin {name!r}", code="plugin_not_found",
                                hint="GET /plugins lists them.")
        return record

    # --- boot ----------------------------------------------------------------------------

    async def start(self, runtime: Runtime) -> None:
        """Discover, load every enabled plugin, then run their ``startup`` hooks (phase 3)."""
        self._runtime = runtime
        self.manager = self._new_manager()
        self._records, self._rejected, self._owners = {}, [], {}
        stored = await self._state.all() if self._state is not None else {}
        if os.environ.get(TRACE_ENV) == "1" and self._undo_trace is None:
            self.manager.trace.root.setwriter(lambda text: log.info("hook: %s", text.rstrip()))
            self._undo_trace = self.manager.enable_tracing()
        for record in self._discover():
            wanted = stored.get(record.name, record.manifest.enabled_by_default
                                if record.manifest else True)
            if record.source == "default":
                wanted = True
            if record.state != FAILED and wanted:
                await self._load(record, runtime)
        for record in list(self._records.values()):
            if record.state == ENABLED:
                await self._startup(record, runtime)

    async def stop(self, runtime: Runtime) -> None:
        """Run ``shutdown`` hooks in reverse load order and withdraw every contribution."""
        try:
            for record in reversed(list(self._records.values())):
                if record.state == ENABLED:
                    await self._shutdown(record, runtime)
                    await self._withdraw(record, runtime)
                    record.state = DISABLED
        finally:
            if self._undo_trace is not None:
                self._undo_trace()
                self._undo_trace = None

    # --- discovery -----------------------------------------------------------------------

    def _discover(self) -> list[PluginRecord]:
        found = [PluginRecord(name, "default", obj=obj, version=__version__,
                              description=((obj.__doc__ or "").strip().splitlines() or [""])[0])
                 for name, obj in self._defaults]
        for folder in self._dirs:
            if folder.is_dir():
                found.extend(self._folder_record(sub) for sub in sorted(folder.iterdir())
                             if sub.is_dir() and not sub.name.startswith((".", "_")))
        if self._group:
            for ep in entry_points(group=self._group):
                found.append(PluginRecord(ep.name, "entrypoint", entry_point=ep,
                                          version=ep.dist.version if ep.dist else ""))
        for record in found:
            first = self._records.get(record.name)
            if first is not None:
                self._fail(record, f"plugin name {record.name!r} is already used by the plugin "
                                   f"at {first.where}")
                self._rejected.append(record)
            else:
                self._records[record.name] = record
        self._records = {r.name: r for r in self._dependency_order()}
        return list(self._records.values())

    def _folder_record(self, folder: Path) -> PluginRecord:
        installed = self._install_dir is not None and folder.parent == self._install_dir
        record = PluginRecord(folder.name, "installed" if installed else "bundled", path=folder)
        try:
            manifest = load_manifest(folder)
        except ManifestError as exc:
            self._fail(record, exc.message)
            return record
        record.name, record.manifest = manifest.name, manifest
        record.version, record.description = manifest.version, manifest.description
        if manifest.aman and not in_range(__version__, manifest.aman):
            self._fail(record, f"needs aman {manifest.aman}; this is {__version__}")
        return record

    def _dependency_order(self) -> list[PluginRecord]:
        ordered: list[PluginRecord] = []
        visiting: set[str] = set()

        def visit(record: PluginRecord) -> None:
            if record in ordered or record.name in visiting:
                return
            visiting.add(record.name)
            for dep in record.manifest.depends_on if record.manifest else []:
                if dep.name in self._records:
                    visit(self._records[dep.name])
            visiting.discard(record.name)
            ordered.append(record)

        for record in self._records.values():
            visit(record)
        return ordered

    # --- loading -------------------------------------------------------------------------

    async def _load(self, record: PluginRecord, runtime: Runtime) -> bool:
        """Import, register, check and collect one plugin; on error mark it failed alone."""
        try:
            self._check_dependencies(record)
            record.settings = resolve_config(
                record.name, record.manifest.config if record.manifest else {},
                runtime.settings.plugins.config.get(record.name, {}))
            plugin = self._import(record)
            try:
                self.manager.register(plugin, name=record.name)
                self.manager.check_pending()
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginLoadError(f"invalid hook implementation: {exc}") from exc
            found: dict[str, list[Any]] = {}
            for hook in _REGISTRATION_HOOKS:
                found[hook] = await self._call(record.name, hook, runtime=runtime)
            contributions = Contributions(
                routes=check_routes(found["register_routes"]),
                sources=check_sources(found["register_event_sources"]),
                event_types=check_event_types(found["register_event_types"]),
                tools=found["register_tools"],
                pages=check_pages(record.manifest, found["register_ui_pages"]),
                skill_dirs=[(record.path or Path.cwd()) / Path(p)
                            for p in found["register_skill_folders"]],
                channel_adapters=check_channel_adapters(found["register_channel_adapters"]))
            self._claim(record, contributions, runtime)
            record.contributions = contributions
            await self._apply(record, runtime)
        except Exception as exc:  # noqa: BLE001 - isolation: any plugin error fails the plugin only
            await self._withdraw(record, runtime)
            self._fail(record, str(exc) or type(exc).__name__)
            if record.source == "default":
                raise StartupError(
                    f"default plugin {record.name!r} failed: {record.error}") from exc
            return False
        record.state, record.error = ENABLED, None
        return True

    def _check_dependencies(self, record: PluginRecord) -> None:
        for dep in record.manifest.depends_on if record.manifest else []:
            other = self._records.get(dep.name)
            if other is None or other.state != ENABLED:
                raise PluginLoadError(f"depends on plugin {dep.name!r}, which is not enabled")
            if dep.version_range and not in_range(other.version, dep.version_range):
                raise PluginLoadError(f"depends on {dep.name} {dep.version_range}; "
                                      f"{other.version} is installed")

    def _import(self, record: PluginRecord) -> object:
        if record.obj is not None:
            return record.obj
        if record.entry_point is not None:
            return record.entry_point.load()
        assert record.path is not None and record.manifest is not None
        path = module_path(record.path, record.manifest)
        if path is None:
            raise PluginLoadError(f"module {record.manifest.module!r} not found in {record.path}")
        self._imports += 1
        name = f"aman_plugin_{record.name.replace('-', '_')}_{self._imports}"
        package = [str(path.parent)] if path.name == "__init__.py" else None
        spec = importlib.util.spec_from_file_location(name, path,
                                                      submodule_search_locations=package)
        if spec is None or spec.loader is None:
            raise PluginLoadError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        record.module_name = name
        spec.loader.exec_module(module)
        return module

    async def _call(self, name: str, hook: str, **kwargs: Any) -> list[Any]:
        """Call one plugin's implementation of ``hook``; flatten list results."""
        # Through pluggy (so tracing sees it), with every other plugin left out: one plugin's
        # error is that plugin's alone.
        others = [plugin for other, plugin in self.manager.list_name_plugin() if other != name]
        caller = self.manager.subset_hook_caller(hook, remove_plugins=others)
        results: list[Any] = []
        try:
            for value in caller(**kwargs):
                value = await resolve(value)
                if isinstance(value, (list, tuple, set)):
                    results.extend(value)
                elif value is not None:
                    results.append(value)
        except Exception as exc:
            raise PluginLoadError(f"hook {hook} raised {type(exc).__name__}: {exc}") from exc
        return results

    def _claim(self, record: PluginRecord, c: Contributions, runtime: Runtime) -> None:
        """Refuse ids another plugin (or the core) already holds, naming both."""
        wanted = ([("source", s.id) for s in c.sources] + [("page", p.id) for p in c.pages]
                  + [("event type", t) for t, _ in c.event_types]
                  + [("channel platform", a.platform) for a in c.channel_adapters])
        taken_by_core = {("event type", t) for t in BUILTIN_TYPES}
        taken_by_core |= {("source", s.id) for s in runtime.sources.list()}
        for key in wanted:
            owner = self._owners.get(key) or ("the core" if key in taken_by_core else None)
            if owner is not None and owner != record.name:
                raise PluginLoadError(f"{key[0]} {key[1]!r} is already registered by "
                                      f"{'plugin ' + repr(owner) if owner != 'the core' else owner}"
                                      f"; plugin {record.name!r} cannot register it too")
        for key in wanted:
            self._owners[key] = record.name

    async def _apply(self, record: PluginRecord, runtime: Runtime) -> None:
        c = record.contributions
        for source in c.sources:
            runtime.sources.register(source)
            if runtime.ready:  # booting: the event_sources step starts every source
                await asyncio.wait_for(source.start(), timeout=_SOURCE_TIMEOUT_SEC)
        for event_type, _ in c.event_types:
            runtime.event_types.register(event_type, f"plugin:{record.name}")
        for adapter in c.channel_adapters:
            runtime.channels.add_platform(adapter)
        tools = getattr(runtime, "tools", None)
        if c.tools and hasattr(tools, "register_plugin_tools"):
            # A name clash (with a built-in or another plugin) fails this plugin only.
            tools.register_plugin_tools(record.name, c.tools)  # type: ignore[union-attr]
        skills = getattr(runtime, "skills", None)
        if c.skill_dirs and hasattr(skills, "add_dirs"):
            await resolve(skills.add_dirs(c.skill_dirs, owner=record.name))  # type: ignore[union-attr]

    async def _withdraw(self, record: PluginRecord, runtime: Runtime) -> None:
        """Remove whatever the plugin added; never raises."""
        c = record.contributions
        for source in c.sources:
            try:
                await asyncio.wait_for(source.stop(), timeout=_SOURCE_TIMEOUT_SEC)
            except Exception:  # noqa: BLE001
                log.exception("stopping source %s of plugin %s failed", source.id, record.name)
            if any(s is source for s in runtime.sources.list()):
                runtime.sources.unregister(source.id)
        runtime.event_types.unregister_owner(f"plugin:{record.name}")
        for adapter in c.channel_adapters:
            runtime.channels.remove_platform(adapter.platform)
        tools = getattr(runtime, "tools", None)
        if hasattr(tools, "unregister_source"):
            tools.unregister_source(f"plugin:{record.name}")  # type: ignore[union-attr]
        skills = getattr(runtime, "skills", None)
        if c.skill_dirs and hasattr(skills, "remove_dirs"):
            try:
                await resolve(skills.remove_dirs(record.name))  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001
                log.exception("removing skill folders of plugin %s failed", record.name)
        self._owners = {k: v for k, v in self._owners.items() if v != record.name}
        record.contributions = Contributions()
        if self.manager.has_plugin(record.name):
            self.manager.unregister(name=record.name)
        if record.module_name:
            sys.modules.pop(record.module_name, None)
            record.module_name = None

    async def _startup(self, record: PluginRecord, runtime: Runtime) -> bool:
        try:
            await self._call(record.name, "startup", runtime=runtime)
        except PluginLoadError as exc:
            await self._withdraw(record, runtime)
            self._fail(record, exc.message)
            if record.source == "default":
                raise StartupError(f"default plugin {record.name!r} failed: {exc}") from exc
            return False
        return True

    async def _shutdown(self, record: PluginRecord, runtime: Runtime) -> None:
        try:
            await self._call(record.name, "shutdown", runtime=runtime)
        except PluginLoadError as exc:
            log.error("plugin %s: %s", record.name, exc)

    @staticmethod
    def _fail(record: PluginRecord, reason: str) -> None:
        record.state, record.error = FAILED, reason
        log.error("plugin %s (%s) failed: %s", record.name, record.where, reason)

    # --- operations ----------------------------------------------------------------------

    def config_for(self, name: str) -> dict[str, Any]:
        """A plugin's settings (``plugins.config.<name>`` with the manifest's defaults)."""
        return dict(self._get(name).settings)

    async def enable(self, name: str) -> dict[str, Any]:
        """Enable and load a plugin now and on every later boot; 422 when it fails to load."""
        async with self._lock:
            record = self._get(name)
            await self._remember(name, True)
            if record.state == ENABLED:
                return record.view()
            runtime = self._require_runtime()
            if record.path is not None:  # read the manifest again: a fixed file heals
                fresh = self._folder_record(record.path)
                if fresh.state == FAILED or fresh.name != name:
                    record.state = FAILED
                    record.error = fresh.error or f"plugin.yaml now names {fresh.name!r}"
                else:
                    record.manifest, record.version = fresh.manifest, fresh.version
                    record.description = fresh.description
                    record.state, record.error = DISABLED, None
            if record.state != FAILED or record.path is None:
                if await self._load(record, runtime):
                    await self._startup(record, runtime)
            self._announce(record, runtime)
            if record.state == FAILED:
                raise UnprocessableError(f"plugin {name!r} failed to load: {record.error}",
                                         code="plugin_failed", details={"plugin": record.view()})
            return record.view()

    async def disable(self, name: str) -> dict[str, Any]:
        """Disable a plugin now and on every later boot: shutdown hook, contributions removed."""
        async with self._lock:
            record = self._get(name)
            if record.source == "default":
                raise ConflictError(f"{name!r} is a core default plugin and cannot be disabled",
                                    code="plugin_not_removable")
            await self._remember(name, False)
            await self._deactivate(record)
            return record.view()

    async def _deactivate(self, record: PluginRecord) -> None:
        runtime = self._require_runtime()
        if record.state == ENABLED:
            await self._shutdown(record, runtime)
        await self._withdraw(record, runtime)
        record.state, record.error = DISABLED, None
        self._announce(record, runtime)

    @staticmethod
    def _announce(record: PluginRecord, runtime: Runtime) -> None:
        """``plugin:state_changed``, so what follows plugins (capabilities) can look again."""
        runtime.bus.emit(PLUGIN_STATE_CHANGED, {"plugin": record.name, "state": record.state,
                                                "version": record.version}, source="plugins")

    async def install(self, data: bytes) -> dict[str, Any]:
        """Unpack a .tar.gz into ``<runtime.dir>/plugins/<name>`` and load it."""
        if self._install_dir is None:
            raise ConflictError("this runtime has no folder for installed plugins")
        from aman.plugins.install import install_archive  # tarfile & co. only when installing

        async with self._lock:
            taken = set(self._records) | {r.name for r in self._rejected}
            manifest, path = await asyncio.to_thread(
                install_archive, data, install_dir=self._install_dir,
                scratch_dir=self._install_dir.parent, limits=self._limits, taken=taken)
            record = self._folder_record(path)
            self._records[record.name] = record
            runtime = self._require_runtime()
            if record.state != FAILED and manifest.enabled_by_default:
                if await self._load(record, runtime):
                    await self._startup(record, runtime)
            return {"plugin_name": manifest.name, "version": manifest.version,
                    "install_dir": str(path), "state": record.state, "error": record.error}

    async def uninstall(self, name: str) -> dict[str, Any]:
        """Stop, withdraw and delete an installed plugin; bundled ones are 409."""
        async with self._lock:
            record = self._get(name)
            if record.source != "installed" or record.path is None:
                raise ConflictError(f"plugin {name!r} is {record.source}, not installed, and "
                                    "cannot be uninstalled", code="plugin_not_removable",
                                    hint="Disable it instead (POST /plugin/{name}/disable).")
            await self._deactivate(record)
            assert self._install_dir is not None
            from aman.plugins.install import remove_folder

            await asyncio.to_thread(remove_folder, record.path, self._install_dir.parent)
            if self._state is not None:
                await self._state.forget(name)
            del self._records[name]
            return {"ok": True, "plugin_name": name}

    async def _remember(self, name: str, enabled: bool) -> None:
        if self._state is not None:
            now = self._clock.now_ms() if self._clock is not None else 0
            await self._state.set(name, enabled, now_ms=now)

    def _require_runtime(self) -> Runtime:
        if self._runtime is None:
            raise UnavailableError("the plugin host has not started", code="not_ready")
        return self._runtime


__all__ = ["PluginHost", "UiPage", "resolve"]
