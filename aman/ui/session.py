"""Console session cookies: signed with the API token, so changing the token revokes them all.

A cookie is ``v1.<expires_ms>.<nonce>.<key>.<signature>``: ``key`` names the API key the console
signed in with (``-`` for the token itself), and the signature is an HMAC-SHA256 of the first
four parts keyed by ``http.token``. Nothing is stored to accept one; the key it names must still
be valid each time. The CSRF value the
console sends with unsafe methods is a second HMAC of the nonce, so only a page that was told it
at sign-in (or by ``GET /ui/session``, which needs the cookie) can send it. A logout revokes the
nonce for the life of the process (nonces are random, so one registry serves every app).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE_NAME = "aman_console"
CSRF_HEADER = "x-aman-csrf"
_VERSION = "v1"

#: Revoked nonces and when their cookie would have expired (pruned as they pass).
_revoked: dict[str, int] = {}


@dataclass(frozen=True)
class Grant:
    """A verified cookie: its nonce, expiry and the CSRF value that goes with it."""

    nonce: str
    expires_ms: int
    csrf: str
    key_id: str | None = None  # None: signed in with the token itself


def _mac(token: str, message: str) -> str:
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _csrf(token: str, nonce: str) -> str:
    return _mac(token, f"csrf|{nonce}")


def _encode_key(key_id: str | None) -> str:
    if key_id is None:
        return "-"
    return base64.urlsafe_b64encode(key_id.encode()).rstrip(b"=").decode()


def _decode_key(text: str) -> str | None:
    if text == "-":
        return None
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def issue(token: str, *, now_ms: int, ttl_sec: int,
          key_id: str | None = None) -> tuple[str, Grant]:
    """A new cookie value and its grant, valid for ``ttl_sec``, acting as key ``key_id``."""
    nonce = secrets.token_urlsafe(18)
    expires_ms = now_ms + ttl_sec * 1000
    body = f"{_VERSION}.{expires_ms}.{nonce}.{_encode_key(key_id)}"
    grant = Grant(nonce, expires_ms, _csrf(token, nonce), key_id)
    return f"{body}.{_mac(token, 'session|' + body)}", grant


def verify(token: str, value: str, *, now_ms: int) -> Grant | None:
    """The grant of a cookie signed with ``token``, unexpired and not revoked; else None."""
    parts = value.split(".")
    if not token or len(parts) != 5 or parts[0] != _VERSION or not parts[1].isdigit():
        return None
    body = ".".join(parts[:4])
    if not hmac.compare_digest(parts[4].encode(), _mac(token, "session|" + body).encode()):
        return None
    expires_ms, nonce = int(parts[1]), parts[2]
    if expires_ms <= now_ms or nonce in _revoked:
        return None
    return Grant(nonce, expires_ms, _csrf(token, nonce), _decode_key(parts[3]))


def csrf_matches(grant: Grant, presented: str | None) -> bool:
    """Constant-time check of the CSRF header against the grant."""
    return presented is not None and hmac.compare_digest(grant.csrf.encode(), presented.encode())


def revoke(grant: Grant, *, now_ms: int) -> None:
    """Refuse this cookie from now on (logout); forget revocations that have expired anyway."""
    for nonce in [n for n, expires in _revoked.items() if expires <= now_ms]:
        del _revoked[nonce]
    _revoked[grant.nonce] = grant.expires_ms
