"""Console cookies: signed with the token, expiring, revocable, useless under another token."""

from __future__ import annotations

from aman.ui import session

TOKEN = "the-api-token"
NOW = 1_800_000_000_000


def test_a_cookie_verifies_until_it_expires() -> None:
    value, grant = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    assert TOKEN not in value and grant.expires_ms == NOW + 60_000
    assert session.verify(TOKEN, value, now_ms=NOW + 59_999) == grant
    assert session.verify(TOKEN, value, now_ms=NOW + 60_000) is None


def test_another_token_or_a_changed_cookie_is_refused() -> None:
    value, _ = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    assert session.verify("a-new-token", value, now_ms=NOW) is None
    version, expires, nonce, key, signature = value.split(".")
    later = f"{version}.{int(expires) + 10**9}.{nonce}.{key}.{signature}"
    assert session.verify(TOKEN, later, now_ms=NOW) is None
    for junk in ("", "v1", "v1.x.y.z.w", f"v2.{expires}.{nonce}.{key}.{signature}"):
        assert session.verify(TOKEN, junk, now_ms=NOW) is None
    assert session.verify("", value, now_ms=NOW) is None  # no token: no cookie is good


def test_a_cookie_names_the_key_it_signed_in_with() -> None:
    value, grant = session.issue(TOKEN, now_ms=NOW, ttl_sec=60, key_id="config:reader")
    assert session.verify(TOKEN, value, now_ms=NOW) == grant
    assert grant.key_id == "config:reader"
    bootstrap, _ = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    assert session.verify(TOKEN, bootstrap, now_ms=NOW).key_id is None  # type: ignore[union-attr]
    # Naming another key breaks the signature.
    version, expires, nonce, _, signature = value.split(".")
    assert session.verify(TOKEN, f"{version}.{expires}.{nonce}.-.{signature}", now_ms=NOW) is None


def test_csrf_is_tied_to_the_cookie() -> None:
    _, first = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    _, second = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    assert first.csrf != second.csrf
    assert session.csrf_matches(first, first.csrf)
    assert not session.csrf_matches(first, second.csrf)
    assert not session.csrf_matches(first, None)


def test_revoked_cookies_stay_refused_and_old_revocations_are_forgotten() -> None:
    value, grant = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    other, _ = session.issue(TOKEN, now_ms=NOW, ttl_sec=60)
    session.revoke(grant, now_ms=NOW)
    assert session.verify(TOKEN, value, now_ms=NOW) is None
    assert session.verify(TOKEN, other, now_ms=NOW) is not None
    _, later = session.issue(TOKEN, now_ms=NOW + 120_000, ttl_sec=60)
    session.revoke(later, now_ms=NOW + 120_000)  # the first one has expired: dropped from memory
    assert grant.nonce not in session._revoked
