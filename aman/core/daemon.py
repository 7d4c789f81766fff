"""The process: lock the runtime dir, serve the app with Hypercorn, stop cleanly on signals.

SIGINT/SIGTERM set the shutdown trigger; Hypercorn then stops accepting, lets open requests end
within a grace period and runs the app's lifespan shutdown, which stops the runtime. POST
/agent/shutdown stops only the runtime: the server stays up so /agent/start can revive it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from aman.config.secrets import secret_values
from aman.config.settings import Settings
from aman.core.app import create_app
from aman.core.lock import InstanceLock
from aman.core.phases import RuntimeState
from aman.core.runtime import Runtime
from aman.core.trimming import limit_malloc_arenas, release_free_memory
from aman.errors import LockHeldError
from aman.logs import setup_logging

log = logging.getLogger(__name__)

#: Open connections get this long to finish after a signal before the runtime stops.
_GRACE_SEC = 5.0

EXIT_OK = 0
EXIT_FAILURE = 1


def run_daemon(settings: Settings, *, config_path: Path | None = None) -> int:
    """Run until a signal arrives; return the process exit code.

    ``config_path`` is the --config file, kept so a channel reload can re-read it.
    """
    lock = InstanceLock(settings.runtime.dir)
    try:
        lock.acquire()
    except LockHeldError as exc:
        print(f"aman: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"aman: cannot use runtime dir {settings.runtime.dir}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    limit_malloc_arenas()  # before any thread starts (aman.core.trimming says why)
    try:
        setup_logging(
            settings.runtime.log_level,
            settings.runtime.dir / "logs",
            secrets=secret_values(settings),
        )
        return asyncio.run(_serve(settings, lock, config_path))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        lock.release()


async def _serve(settings: Settings, lock: InstanceLock, config_path: Path | None = None) -> int:
    runtime = Runtime(settings, instance_lock=lock, config_path=config_path)
    app = create_app(settings, runtime=runtime)
    config = HypercornConfig()
    config.bind = [settings.http.bind]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through our redacting handlers
    config.graceful_timeout = _GRACE_SEC
    config.shutdown_timeout = settings.runtime.drain_timeout_sec + _GRACE_SEC
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _on_signal, stop, signum, runtime, config)
    log.info("aman %s serving on http://%s (runtime dir %s)",
             app.extensions["aman.core.runtime"].version, settings.http.bind, settings.runtime.dir)
    tidy = loop.create_task(_release_memory_once_ready(runtime), name="release-memory")
    try:
        await serve(app, config, shutdown_trigger=stop.wait)
    except OSError as exc:
        log.error("cannot listen on %s: %s", settings.http.bind, exc.strerror or exc)
        print(f"aman: cannot listen on {settings.http.bind}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_FAILURE
    finally:
        tidy.cancel()
    log.info("aman stopped")
    return EXIT_OK


async def _release_memory_once_ready(runtime: Runtime) -> None:
    """Trim the heap once boot is done, so the idle daemon holds only what is live."""
    while not runtime.ready:
        if runtime.state in (RuntimeState.FAILED, RuntimeState.STOPPING, RuntimeState.STOPPED):
            return
        await asyncio.sleep(0.1)
    release_free_memory()


def _on_signal(stop: asyncio.Event, signum: int, runtime: Runtime, config: HypercornConfig) -> None:
    log.info("received %s; shutting down", signal.Signals(signum).name)
    # runtime.drain_timeout_sec may have changed live; Hypercorn reads this at stop.
    config.shutdown_timeout = runtime.settings.runtime.drain_timeout_sec + _GRACE_SEC
    stop.set()
    runtime.end_streams()  # open SSE responses would otherwise hold the whole grace period
