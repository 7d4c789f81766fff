"""``aman keys`` against a real daemon with a token: create (secret shown once), use, list,
revoke; ``aman keys hash`` gives what ``auth.keys`` needs."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.cli.helpers import aman, aman_json, run
from tests.e2e.daemons import Daemon

pytestmark = pytest.mark.e2e


def test_keys_create_list_use_and_revoke(token_daemon: Daemon) -> None:
    made = aman_json(token_daemon, "keys", "create", "cli-reader", "--scope", "read", "--yes")
    secret = made["secret"]
    assert secret.startswith("aman_") and made["scopes"] == ["read"]
    listed = aman(token_daemon, "keys", "ls")
    assert listed.returncode == 0 and "cli-reader" in listed.stdout
    assert secret not in listed.stdout
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=token_daemon.base_url, timeout=10.0) as client:
        assert client.get("/runtime/status", headers=headers).status_code == 200
        refused = aman(token_daemon, "keys", "revoke", made["id"], stdin="")
        assert refused.returncode == 1 and "--yes" in refused.stderr
        revoked = aman(token_daemon, "keys", "revoke", made["id"], "--yes")
        assert revoked.returncode == 0 and "revoked cli-reader" in revoked.stdout
        assert client.get("/runtime/status", headers=headers).status_code == 401


def test_keys_hash_prints_the_config_hash() -> None:
    hashed = run("keys", "hash", "aman_secret-value")
    assert hashed.returncode == 0
    assert hashed.stdout.strip() == "sha256:" + hashlib.sha256(b"aman_secret-value").hexdigest()
    from_stdin = run("keys", "hash", "-", stdin="aman_secret-value\n")
    assert from_stdin.stdout == hashed.stdout
