"""The suite covers every repository: each repository class is in the bundle the contract tests
use, so a repository added later cannot escape them, and each exists once, for both databases."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import aman.store
import aman.store.pg
from tests.store.contract.backends import SqliteBackend

#: What the store's repository classes are called: ``Sql<Concept>Repository`` for those written
#: once for both databases; the event log keeps one class per database on a shared base.
_KINDS = ("Repository", "EventLog")


def repository_classes(package: ModuleType) -> set[type]:
    found: set[type] = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found |= {cls for name, cls in inspect.getmembers(module, inspect.isclass)
                  if name.endswith(_KINDS) and cls.__module__ == module.__name__}
    return found


async def test_every_repository_is_in_the_contract_bundle(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path)
    try:
        bundle = await backend.open()
        bundled = {type(getattr(bundle, f.name)) for f in fields(bundle) if f.name != "settle"}
    finally:
        await backend.close()
    assert len(repository_classes(aman.store)) >= 17
    # A shared base (the event logs' SqlEventLog) is covered through the class built on it.
    assert {cls for cls in repository_classes(aman.store)
            if not any(issubclass(b, cls) for b in bundled)} == set()


def test_the_postgresql_package_holds_no_second_copy_of_a_repository() -> None:
    assert {cls.__name__ for cls in repository_classes(aman.store.pg)} == {"PgEventLog"}
