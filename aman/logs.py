"""Logging: one format, a file in the runtime dir, and secrets redacted from every line."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterable
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_REDACTED = "***"


class RedactingFormatter(logging.Formatter):
    """Replaces each secret with ``***`` after formatting, so no handler ever sees it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(_FORMAT)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text


def setup_logging(level: str, log_dir: Path | None, secrets: Iterable[str]) -> None:
    """Send logs to stderr and, when ``log_dir`` is given, to a rotating ``aman.log`` there."""
    formatter = RedactingFormatter(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_dir / "aman.log", maxBytes=10_000_000, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    root.setLevel(level)
    # Hypercorn's access log costs a line per request; aman's metrics count requests instead.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
    # httpx logs every outbound request at INFO (forwarders); failures reach the trace instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
