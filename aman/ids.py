"""Identifiers: time-sortable UUIDv7 for records and short random ids for requests."""

from __future__ import annotations

import os
import secrets
import time
import uuid


def uuid7() -> str:
    """A UUIDv7 string (RFC 9562): 48-bit ms timestamp, then randomness; sorts by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 68) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return str(uuid.UUID(int=value))


def request_id() -> str:
    """A short id that ties a response to its log lines."""
    return secrets.token_hex(8)
