"""Finding plugins and importing their code: folders, entry points and the default plugins.

A folder plugin's ``plugin.yaml`` is validated before any of its code is imported; each folder
module is imported under a unique name, so two plugins never clash. Records come back in
dependency order (``depends_on`` first); a name found twice fails the later one.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from aman import __version__
from aman.plugins.manifest import ManifestError, in_range, load_manifest, module_path
from aman.plugins.records import FAILED, PluginLoadError, PluginRecord

log = logging.getLogger(__name__)

#: The entry-point group installed packages use to offer plugins.
ENTRY_POINT_GROUP = "aman.plugins"


def fail(record: PluginRecord, reason: str) -> None:
    """Mark ``record`` failed with ``reason`` and log it."""
    record.state, record.error = FAILED, reason
    log.error("plugin %s (%s) failed: %s", record.name, record.where, reason)


def folder_record(folder: Path, install_dir: Path | None) -> PluginRecord:
    """The record of the plugin in ``folder``, from its manifest; failed if the manifest is bad."""
    installed = install_dir is not None and folder.parent == install_dir
    record = PluginRecord(folder.name, "installed" if installed else "bundled", path=folder)
    try:
        manifest = load_manifest(folder)
    except ManifestError as exc:
        fail(record, exc.message)
        return record
    record.name, record.manifest = manifest.name, manifest
    record.version, record.description = manifest.version, manifest.description
    if manifest.aman and not in_range(__version__, manifest.aman):
        fail(record, f"needs aman {manifest.aman}; this is {__version__}")
    return record


def discover(defaults: Iterable[tuple[str, object]], dirs: Iterable[Path],
             install_dir: Path | None,
             group: str | None) -> tuple[dict[str, PluginRecord], list[PluginRecord]]:
    """Every plugin found, by name in dependency order, and those rejected for a taken name."""
    found = [PluginRecord(name, "default", obj=obj, version=__version__,
                          description=((obj.__doc__ or "").strip().splitlines() or [""])[0])
             for name, obj in defaults]
    for folder in dirs:
        if folder.is_dir():
            found.extend(folder_record(sub, install_dir) for sub in sorted(folder.iterdir())
                         if sub.is_dir() and not sub.name.startswith((".", "_")))
    if group:
        for ep in entry_points(group=group):
            found.append(PluginRecord(ep.name, "entrypoint", entry_point=ep,
                                      version=ep.dist.version if ep.dist else ""))
    records: dict[str, PluginRecord] = {}
    rejected: list[PluginRecord] = []
    for record in found:
        first = records.get(record.name)
        if first is not None:
            fail(record, f"plugin name {record.name!r} is already used by the plugin at "
                         f"{first.where}")
            rejected.append(record)
        else:
            records[record.name] = record
    return {r.name: r for r in dependency_order(records)}, rejected


def dependency_order(records: dict[str, PluginRecord]) -> list[PluginRecord]:
    """The records with every plugin after the ones it depends on (cycles broken, not refused)."""
    ordered: list[PluginRecord] = []
    visiting: set[str] = set()

    def visit(record: PluginRecord) -> None:
        if record in ordered or record.name in visiting:
            return
        visiting.add(record.name)
        for dep in record.manifest.depends_on if record.manifest else []:
            if dep.name in records:
                visit(records[dep.name])
        visiting.discard(record.name)
        ordered.append(record)

    for record in records.values():
        visit(record)
    return ordered


def import_plugin(record: PluginRecord, unique: int) -> object:
    """The plugin's object: a default's own, an entry point's, or its folder module imported."""
    if record.obj is not None:
        return record.obj
    if record.entry_point is not None:
        return record.entry_point.load()
    assert record.path is not None and record.manifest is not None
    path = module_path(record.path, record.manifest)
    if path is None:
        raise PluginLoadError(f"module {record.manifest.module!r} not found in {record.path}")
    name = f"aman_plugin_{record.name.replace('-', '_')}_{unique}"
    package = [str(path.parent)] if path.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=package)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    record.module_name = name
    spec.loader.exec_module(module)
    return module


def forget_module(record: PluginRecord) -> None:
    """Drop the plugin's folder module from ``sys.modules`` (a later load imports it afresh)."""
    if record.module_name:
        sys.modules.pop(record.module_name, None)
        record.module_name = None
