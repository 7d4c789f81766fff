"""A throwaway local PostgreSQL server: ``initdb`` in a temporary folder, 127.0.0.1 only.

Shared by the test fixture (``tests/pg.py``) and the benchmarks (``scripts/bench_events.py``):
no pytest here. The server binaries come from Debian's ``postgresql`` package, which
``scripts/test`` installs when missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Where Debian puts the server binaries, newest version first.
_DEBIAN_BINS = "/usr/lib/postgresql/*/bin"
TEMPLATE = "aman_template"
#: Server options of the test fixture: no fsync, as the tests' data is thrown away.
TEST_OPTIONS = "-c fsync=off -c synchronous_commit=on -c max_connections=200"


class ServerUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server would not start; says how to fix it."""


def bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob(_DEBIAN_BINS), reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    raise ServerUnavailable("PostgreSQL server binaries (initdb) not found: run `apt-get install "
                            "-y postgresql` (scripts/test does it when run as root)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """One running cluster; ``url(db)`` names a database on it."""

    folder: Path
    port: int
    user: str
    bin_dir: Path
    run_as: str | None

    def url(self, database: str) -> str:
        """The ``postgresql://`` URL of ``database`` on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with the server's own psql and return its output."""
        psql = self.bin_dir / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        result = subprocess.run(
            [str(psql), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def new_database(self) -> str:
        """A fresh, empty database cloned from the template; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def postmaster_pid(self) -> int | None:
        """The server's main process, from its pid file."""
        try:
            return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else args

    def start(self, options: str = TEST_OPTIONS) -> None:
        """initdb, then start the server with ``options`` and create the template database."""
        data = self.folder / "data"
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._as_owner([
            str(self.bin_dir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync"]),
            check=True, capture_output=True, timeout=300)
        listen = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        subprocess.run(self._as_owner([
            str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"),
            "-o", f"{listen} {options}", "-w", "-t", "120", "start"]),
            check=True, capture_output=True, timeout=180)
        self.psql(f"CREATE DATABASE {TEMPLATE}")

    def stop(self) -> None:
        """Stop the server immediately (its data is thrown away)."""
        subprocess.run(self._as_owner([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
            "-w", "stop"]), capture_output=True, timeout=120, check=False)


@contextmanager
def temporary_server(options: str = TEST_OPTIONS) -> Iterator[PgServer]:
    """A server in a temporary folder for the ``with`` block; stopped and removed after it."""
    binaries = bin_dir()
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="aman-pg-"))
    server = PgServer(folder=folder, port=free_port(), user="aman", bin_dir=binaries,
                      run_as=run_as)
    try:
        try:
            server.start(options)
        except subprocess.CalledProcessError as exc:
            log = folder / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerUnavailable(f"cannot start PostgreSQL: {exc.stderr!r} {tail}") from exc
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
