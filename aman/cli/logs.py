"""``aman logs [-f]``: the daemon's log file in its runtime dir (``logs/aman.log``).

The log is a file on this machine, so this reads it directly, with the same ``--config`` /
``--home`` rules as ``aman run``; following it survives the daemon rotating the file.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import TextIO

import click

from aman.cli.client import CliError
from aman.cli.connect import common_options, options

#: How often ``-f`` looks for new lines.
POLL_SEC = 0.25


def register(cli: click.Group) -> None:
    """Add ``logs``."""
    cli.add_command(logs)


def _echo(line: str) -> None:
    line = line.rstrip("\n")
    click.echo(json.dumps({"line": line}) if options().json else line)


@click.command()
@click.option("-n", "--lines", type=int, default=50, show_default=True,
              help="How many of the last lines to print.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing lines as they are written.")
@common_options
def logs(lines: int, follow: bool) -> None:
    """Print the end of the daemon's log; -f follows it."""
    path = options().settings().runtime.dir / "logs" / "aman.log"
    if not path.is_file():
        raise CliError(f"no log at {path}", "the daemon writes it once it runs with this "
                                             "runtime dir (--home / --config)")
    with path.open(encoding="utf-8", errors="replace") as stream:
        for line in deque(stream, maxlen=max(lines, 0)):
            _echo(line)
        if not follow:
            return
        try:
            _follow(path, stream)
        except KeyboardInterrupt:
            return


def _follow(path: Path, stream: TextIO) -> None:
    current = stream
    inode = os.fstat(current.fileno()).st_ino
    while True:
        line = current.readline()
        if line:
            _echo(line)
            continue
        time.sleep(POLL_SEC)
        try:
            rotated = os.stat(path).st_ino != inode
        except FileNotFoundError:
            continue
        if rotated:  # the handler rolled the file over: read the new one from its start
            if current is not stream:
                current.close()
            current = path.open(encoding="utf-8", errors="replace")
            inode = os.fstat(current.fileno()).st_ino
