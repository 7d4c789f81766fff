"""How commands print: the API's JSON with ``--json``, else short tables and plain lines.

Colour only on a terminal and never with ``NO_COLOR`` set; destructive commands ask on a
terminal and refuse without ``--yes`` elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import click

from aman.cli.client import CliError
from aman.cli.connect import options

#: Longest cell in a table; longer text is cut with an ellipsis so rows stay on one line.
MAX_CELL = 48


def colour_enabled() -> bool:
    """Whether stdout is a terminal and the user did not ask for no colour."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def style(text: str, **kwargs: Any) -> str:
    """``click.style`` when colour is on, else the plain text."""
    return click.style(text, **kwargs) if colour_enabled() else text


def emit(data: Any, human: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as JSON under ``--json``, else through ``human`` (default: key: value)."""
    if options().json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif human is not None:
        human(data)
    elif isinstance(data, dict):
        fields(data)
    else:
        click.echo(str(data))


def when(ms: int) -> str:
    """A millisecond timestamp as local time, to the second."""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _is_time(column: str, value: Any) -> bool:
    return (column.endswith("_at") or column == "ts_ms") and isinstance(value, int) \
        and not isinstance(value, bool)


def cell(value: Any, width: int = MAX_CELL) -> str:
    """One table cell: short, on one line."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), default=str)
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str],
          *, empty: str = "nothing to show") -> None:
    """Rows as aligned columns with a header; ``empty`` when there are none."""
    cells = [[when(row[c]) if _is_time(c, row.get(c)) else cell(row.get(c)) for c in columns]
             for row in rows]
    if not cells:
        click.echo(empty)
        return
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    header = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    click.echo(style(header.rstrip(), bold=True))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def fields(data: dict[str, Any], keys: Sequence[str] | None = None) -> None:
    """A mapping as ``key: value`` lines (nested values as compact JSON)."""
    for key in keys or list(data):
        if key in data:
            click.echo(f"{style(key, bold=True)}: {cell(data[key], width=200)}")


def confirm(action: str) -> None:
    """Ask before a destructive action on a terminal; elsewhere require ``--yes``."""
    if options().yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{action}: refusing without confirmation",
                       "add --yes to confirm when not on a terminal")
    if not click.confirm(f"{action}: are you sure?", default=False):
        raise CliError(f"{action}: cancelled")
