"""The suite covers every repository: each SQLite repository class is in the bundle the contract
tests use, so a repository added later cannot escape them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import fields
from pathlib import Path

import aman.store
from tests.store.contract.backends import SqliteBackend


def sqlite_repository_classes() -> set[type]:
    found: set[type] = set()
    for info in pkgutil.iter_modules(aman.store.__path__):
        module = importlib.import_module(f"aman.store.{info.name}")
        found |= {cls for name, cls in inspect.getmembers(module, inspect.isclass)
                  if name.startswith("Sqlite") and cls.__module__ == module.__name__}
    return found


async def test_every_sqlite_repository_is_in_the_contract_bundle(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path)
    try:
        bundle = await backend.open()
        bundled = {type(getattr(bundle, f.name)) for f in fields(bundle) if f.name != "settle"}
    finally:
        await backend.close()
    assert len(sqlite_repository_classes()) >= 13
    assert sqlite_repository_classes() - bundled == set()
