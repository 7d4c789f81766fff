"""Keep the idle daemon small: glibc malloc tuning and a trim once boot is done (Linux only).

Both are best-effort and no-ops where glibc is not the allocator. One malloc arena is enough
for a process whose work runs on one event loop (the other threads are SQLite connections and
file watchers, all lightly used); glibc would otherwise give each thread its own arena. After
boot, parse trees and migration work leave freed heap behind that glibc keeps until trimmed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_malloc_arenas(count: int = 1) -> bool:
    """Cap glibc's malloc arenas; call before threads start. True when applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, count) == 1)


def release_free_memory() -> None:
    """Collect cyclic garbage, then hand freed heap pages back to the OS."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
