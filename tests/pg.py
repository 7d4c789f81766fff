"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temporary folder, 127.0.0.1 only.

The server belongs to the test session (started on first use, stopped at the end); each test
gets a database of its own, cloned from an empty template. The server binaries come from
Debian's ``postgresql`` package, which ``scripts/test`` installs when missing; a missing server
fails the test with that fix in the message (it is never a skip).
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
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Where Debian puts the server binaries, newest version first.
_DEBIAN_BINS = "/usr/lib/postgresql/*/bin"
_TEMPLATE = "aman_template"


def _bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres; fails with the fix when absent."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob(_DEBIAN_BINS), reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    pytest.fail("PostgreSQL server binaries (initdb) not found: run `apt-get install -y "
                "postgresql` (scripts/test does it when run as root)", pytrace=False)


def _free_port() -> int:
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
        self.psql(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
        return self.url(name)

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else args

    def start(self) -> None:
        """initdb, then start the server and create the template database."""
        data = self.folder / "data"
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._as_owner([
            str(self.bin_dir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync"]),
            check=True, capture_output=True, timeout=300)
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
                   " -c fsync=off -c synchronous_commit=on -c max_connections=200")
        subprocess.run(self._as_owner([
            str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"),
            "-o", options, "-w", "-t", "120", "start"]),
            check=True, capture_output=True, timeout=180)
        self.psql(f"CREATE DATABASE {_TEMPLATE}")

    def stop(self) -> None:
        """Stop the server immediately (its data is thrown away)."""
        subprocess.run(self._as_owner([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
            "-w", "stop"]), capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, in a temporary folder, stopped at the end."""
    bin_dir = _bin_dir()
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="aman-pg-"))
    server = PgServer(folder=folder, port=_free_port(), user="aman", bin_dir=bin_dir,
                      run_as=run_as)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = folder / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"cannot start PostgreSQL: {exc.stderr!r} {tail}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
