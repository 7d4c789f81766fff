"""aman: a plugin-based personal agent runtime daemon."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``aman.hookimpl`` for plugin authors, imported lazily so ``import aman`` stays light.
    if name == "hookimpl":
        from aman.plugins.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'aman' has no attribute {name!r}")
