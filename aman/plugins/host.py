"""PluginHost: the per-Runtime pluggy manager, isolation, hook calls and runtime enable/disable.

Plugins are found by ``aman.plugins.discovery`` (folders, entry points, the default plugins) and
their contributions checked and wired by ``aman.plugins.contributions``. Each is loaded alone: a
bad manifest, an import error, an unknown hook name (``check_pending`` after each registration)
or a hook that raises marks that plugin ``failed`` and the daemon goes on. Every hook a plugin
implements receives its own ``PluginContext``, never the Runtime. Enabled/disabled is persisted;
enabling and disabling at runtime adds and removes routes, sources, event types, tools and pages
without a restart.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from aman.clock import Clock
from aman.errors import (
    ConflictError,
    NotFoundError,
    StartupError,
    UnavailableError,
    UnprocessableError,
)
from aman.events.types import PLUGIN_STATE_CHANGED
from aman.plugins import contributions, discovery, hookspecs
from aman.plugins.config import resolve_config
from aman.plugins.context import PluginBus, PluginContext
from aman.plugins.contributions import REGISTRATION_HOOKS, PluginWiring
from aman.plugins.discovery import ENTRY_POINT_GROUP, fail
from aman.plugins.manifest import in_range
from aman.plugins.model import PluginRoute, UiPage
from aman.plugins.records import (
    DISABLED,
    ENABLED,
    FAILED,
    Limits,
    PluginLoadError,
    PluginRecord,
)

if TYPE_CHECKING:
    from aman.plugins.model import PluginStateRepository

log = logging.getLogger(__name__)

#: Set to 1 to log every hook call with its arguments and results (Datasette's trace switch).
TRACE_ENV = "AMAN_TRACE_PLUGIN_HOOKS"


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
        self._owners = contributions.Owners()
        self._wiring: PluginWiring | None = None
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

    async def start(self, wiring: PluginWiring) -> None:
        """Discover, load every enabled plugin, then run their ``startup`` hooks (phase 3)."""
        self._wiring = wiring
        self.manager = self._new_manager()
        self._owners = contributions.Owners()
        stored = await self._state.all() if self._state is not None else {}
        if os.environ.get(TRACE_ENV) == "1" and self._undo_trace is None:
            self.manager.trace.root.setwriter(lambda text: log.info("hook: %s", text.rstrip()))
            self._undo_trace = self.manager.enable_tracing()
        self._records, self._rejected = discovery.discover(
            self._defaults, self._dirs, self._install_dir, self._group)
        for record in list(self._records.values()):
            wanted = stored.get(record.name, record.manifest.enabled_by_default
                                if record.manifest else True)
            if record.source == "default":
                wanted = True
            if record.state != FAILED and wanted:
                await self._load(record, wiring)
        for record in list(self._records.values()):
            if record.state == ENABLED:
                await self._startup(record)

    async def stop(self, wiring: PluginWiring) -> None:
        """Run ``shutdown`` hooks in reverse load order and withdraw every contribution."""
        try:
            for record in reversed(list(self._records.values())):
                if record.state == ENABLED:
                    await self._shutdown(record)
                    await self._withdraw(record, wiring)
                    record.state = DISABLED
        finally:
            if self._undo_trace is not None:
                self._undo_trace()
                self._undo_trace = None

    # --- calling hooks -------------------------------------------------------------------

    async def call_plugin_hook(self, plugin: str, hook: str, *, timeout: float | None = None,
                               **kwargs: Any) -> list[Any]:
        """Call one enabled plugin's ``hook`` alone, with its context; flatten list results.

        Awaitables are awaited (each within ``timeout`` seconds when given). A plugin that is
        not loaded, or does not implement ``hook``, answers ``[]``; whatever its hook raises
        comes back as ``PluginLoadError`` naming the hook.
        """
        record = self._get(plugin)
        if record.context is None or not self.manager.has_plugin(plugin):
            return []
        return await self._call(record, hook, timeout=timeout, **kwargs)

    async def _call(self, record: PluginRecord, hook: str, *, timeout: float | None = None,
                    **kwargs: Any) -> list[Any]:
        # Through pluggy (so tracing sees it), with every other plugin left out: one plugin's
        # error is that plugin's alone.
        others = [plugin for other, plugin in self.manager.list_name_plugin()
                  if other != record.name]
        caller = self.manager.subset_hook_caller(hook, remove_plugins=others)
        results: list[Any] = []
        try:
            for value in caller(context=record.context, **kwargs):
                value = await asyncio.wait_for(resolve(value), timeout)
                if isinstance(value, (list, tuple, set)):
                    results.extend(value)
                elif value is not None:
                    results.append(value)
        except Exception as exc:
            raise PluginLoadError(f"hook {hook} raised {type(exc).__name__}: {exc}") from exc
        return results

    # --- loading -------------------------------------------------------------------------

    def _context(self, record: PluginRecord, wiring: PluginWiring) -> PluginContext:
        return PluginContext(name=record.name, bus=PluginBus(wiring.bus, record.name),
                             clock=wiring.clock, tasks=wiring.tasks, tools=wiring.tools,
                             approvals=wiring.approvals, _config=lambda: record.settings,
                             _refresh_capabilities=wiring.capabilities.refresh)

    async def _load(self, record: PluginRecord, wiring: PluginWiring) -> bool:
        """Import, register, check and collect one plugin; on error mark it failed alone."""
        try:
            self._check_dependencies(record)
            record.settings = resolve_config(
                record.name, record.manifest.config if record.manifest else {},
                wiring.settings.plugins.config.get(record.name, {}))
            self._imports += 1
            plugin = discovery.import_plugin(record, self._imports)
            try:
                self.manager.register(plugin, name=record.name)
                self.manager.check_pending()
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginLoadError(f"invalid hook implementation: {exc}"
                                      f"{_RENAMED if 'runtime' in str(exc) else ''}") from exc
            record.context = self._context(record, wiring)
            found = {hook: await self._call(record, hook) for hook in REGISTRATION_HOOKS}
            found_contributions = contributions.collect(record, found)
            self._owners.claim(record, found_contributions, wiring)
            record.contributions = found_contributions
            await contributions.apply(record, wiring)
        except Exception as exc:  # noqa: BLE001 - isolation: any plugin error fails the plugin only
            await self._withdraw(record, wiring)
            fail(record, str(exc) or type(exc).__name__)
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

    async def _withdraw(self, record: PluginRecord, wiring: PluginWiring) -> None:
        """Remove whatever the plugin added and unregister it; never raises."""
        await contributions.withdraw(record, wiring)
        self._owners.release(record.name)
        if self.manager.has_plugin(record.name):
            self.manager.unregister(name=record.name)
        discovery.forget_module(record)

    async def _startup(self, record: PluginRecord) -> bool:
        try:
            await self._call(record, "startup")
        except PluginLoadError as exc:
            await self._withdraw(record, self._require_wiring())
            fail(record, exc.message)
            if record.source == "default":
                raise StartupError(f"default plugin {record.name!r} failed: {exc}") from exc
            return False
        return True

    async def _shutdown(self, record: PluginRecord) -> None:
        try:
            await self._call(record, "shutdown")
        except PluginLoadError as exc:
            log.error("plugin %s: %s", record.name, exc)

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
            wiring = self._require_wiring()
            if record.path is not None:  # read the manifest again: a fixed file heals
                fresh = discovery.folder_record(record.path, self._install_dir)
                if fresh.state == FAILED or fresh.name != name:
                    record.state = FAILED
                    record.error = fresh.error or f"plugin.yaml now names {fresh.name!r}"
                else:
                    record.manifest, record.version = fresh.manifest, fresh.version
                    record.description = fresh.description
                    record.state, record.error = DISABLED, None
            if record.state != FAILED or record.path is None:
                if await self._load(record, wiring):
                    await self._startup(record)
            self._announce(record, wiring)
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
        wiring = self._require_wiring()
        if record.state == ENABLED:
            await self._shutdown(record)
        await self._withdraw(record, wiring)
        record.state, record.error = DISABLED, None
        self._announce(record, wiring)

    @staticmethod
    def _announce(record: PluginRecord, wiring: PluginWiring) -> None:
        """``plugin:state_changed``, so what follows plugins (capabilities) can look again."""
        wiring.bus.emit(PLUGIN_STATE_CHANGED, {"plugin": record.name, "state": record.state,
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
            record = discovery.folder_record(path, self._install_dir)
            self._records[record.name] = record
            wiring = self._require_wiring()
            if record.state != FAILED and manifest.enabled_by_default:
                if await self._load(record, wiring):
                    await self._startup(record)
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

    def _require_wiring(self) -> PluginWiring:
        if self._wiring is None:
            raise UnavailableError("the plugin host has not started", code="not_ready")
        return self._wiring


#: Added to a registration error when a hook still names its argument ``runtime``.
_RENAMED = (" (hooks receive their plugin's context as `context`, an "
            "aman.plugins.context.PluginContext; rename the `runtime` argument)")

__all__ = ["PluginHost", "UiPage", "resolve"]
