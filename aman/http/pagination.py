"""Opaque cursors: base64url JSON that the client hands back unchanged."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aman.errors import InvalidCursorError


def encode_cursor(position: dict[str, Any]) -> str:
    """Wrap a position into an opaque token."""
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, *, required: tuple[str, ...]) -> dict[str, Any]:
    """Unwrap a token produced by ``encode_cursor``; raise ``InvalidCursorError`` otherwise."""
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursorError(f"cursor {token[:40]!r} was not issued by this daemon") from None
    if not isinstance(position, dict) or any(key not in position for key in required):
        raise InvalidCursorError(f"cursor {token[:40]!r} was not issued by this endpoint")
    return position
