from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aman.auth.service import KeyService, hash_secret
from aman.config.auth import AuthSettings
from aman.errors import ConflictError, InvalidInputError, NotFoundError, UnauthorizedError
from aman.store.api_keys import SqlApiKeyRepository
from aman.store.db import Database
from aman.store.migrate import migrate
from tests.helpers import ManualClock


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "aman.db")
    await database.open()
    await migrate(database)
    yield database
    await database.close()


def service(db: Database, clock: ManualClock, *, token: str = "boot",
            config: AuthSettings | None = None) -> KeyService:
    return KeyService(SqlApiKeyRepository(db), clock, token=lambda: token,
                      config=lambda: config or AuthSettings(),
                      known_agents=lambda: ["aman", "other"])


async def test_a_key_authenticates_with_its_scopes_and_is_stored_only_as_a_hash(
        db: Database) -> None:
    keys = service(db, ManualClock(1_000))
    await keys.start()
    key, secret = await keys.create(name="desk", scopes=["read"], agents=["aman"])
    principal = keys.authenticate(secret)
    assert principal.name == "desk" and principal.scopes == {"read"}
    assert principal.agents == {"aman"}
    rows = await db.fetchall("SELECT * FROM api_keys")
    assert [row["hash"] for row in rows] == [hash_secret(secret)]
    assert all(secret not in str(tuple(row)) for row in rows)
    reloaded = service(db, ManualClock(2_000))
    await reloaded.start()
    assert reloaded.authenticate(secret).name == "desk"


async def test_keys_made_or_revoked_by_another_daemon_count_after_a_refresh(
        db: Database) -> None:
    clock = ManualClock(1_000)
    here, there = service(db, clock), service(db, clock)
    await here.start()
    await there.start()
    key, secret = await there.create(name="elsewhere", scopes=["read"])
    with pytest.raises(UnauthorizedError):
        here.authenticate(secret)
    await here.refresh()
    assert here.authenticate(secret).name == "elsewhere"
    ended: list[str] = []
    here.watch(key.id, lambda: ended.append(key.id))
    await there.revoke(key.id)
    await here.refresh()
    with pytest.raises(UnauthorizedError, match="revoked"):
        here.authenticate(secret)
    assert ended == [key.id]  # its open streams here end too


async def test_the_bootstrap_token_has_every_scope(db: Database) -> None:
    keys = service(db, ManualClock(0), token="boot")
    await keys.start()
    assert keys.authenticate("boot").scopes == {"admin"}
    with pytest.raises(UnauthorizedError):
        keys.authenticate("boot2")


async def test_revoked_and_expired_keys_are_refused(db: Database) -> None:
    clock = ManualClock(1_000)
    keys = service(db, clock)
    await keys.start()
    revoked, revoked_secret = await keys.create(name="r", scopes=["read"])
    _, soon_secret = await keys.create(name="s", scopes=["read"], expires_at_ms=5_000)
    ended: list[str] = []
    keys.watch(revoked.id, lambda: ended.append("stream"))
    await keys.revoke(revoked.id)
    assert ended == ["stream"]
    with pytest.raises(UnauthorizedError, match="revoked"):
        keys.authenticate(revoked_secret)
    assert keys.authenticate(soon_secret).name == "s"
    clock.advance(4)
    with pytest.raises(UnauthorizedError, match="expired"):
        keys.authenticate(soon_secret)


async def test_bad_requests_change_nothing(db: Database) -> None:
    keys = service(db, ManualClock(1_000))
    await keys.start()
    await keys.create(name="taken", scopes=["read"])
    with pytest.raises(InvalidInputError, match="unknown scope"):
        await keys.create(name="x", scopes=["root"])
    with pytest.raises(ConflictError):
        await keys.create(name="taken", scopes=["read"])
    with pytest.raises(InvalidInputError, match="unknown agent"):
        await keys.create(name="y", scopes=["chat"], agents=["ghost"])
    with pytest.raises(InvalidInputError, match="past"):
        await keys.create(name="z", scopes=["read"], expires_at_ms=10)
    with pytest.raises(NotFoundError):
        await keys.revoke("nope")
    assert [k.name for k in keys.listing()] == ["taken"]


async def test_config_keys_authenticate_and_cannot_be_revoked_through_the_api(
        db: Database) -> None:
    config = AuthSettings.model_validate({"keys": [{
        "name": "ci", "scopes": ["events:push"],
        "hash": "sha256:" + hashlib.sha256(b"aman_ci").hexdigest()}]})
    keys = service(db, ManualClock(0), config=config)
    await keys.start()
    assert keys.authenticate("aman_ci").scopes == {"events:push"}
    with pytest.raises(ConflictError, match="config"):
        await keys.revoke("config:ci")


async def test_last_use_is_written_in_batches(db: Database) -> None:
    clock = ManualClock(1_000)
    keys = service(db, clock)
    await keys.start()
    key, secret = await keys.create(name="k", scopes=["read"])
    keys.authenticate(secret)
    assert keys.due_for_flush()  # nothing written yet, and never before
    await keys.flush()
    keys.authenticate(secret)
    assert not keys.due_for_flush()  # written a moment ago: wait for the next batch
    clock.advance(11)
    assert keys.due_for_flush()
    row = await db.fetchone("SELECT last_used_at FROM api_keys")
    assert row is not None and row["last_used_at"] == 1_000
    assert keys.listing()[0].last_used_at_ms == 1_000


async def test_a_remembered_sign_in_holds_while_its_key_is_valid(db: Database) -> None:
    clock = ManualClock(1_800_000_000_000)
    keys = service(db, clock)
    await keys.start()
    key, _ = await keys.create(name="viewer", scopes=["read"], agents=["aman"],
                               expires_at_ms=clock.now_ms() + 60_000)
    again = keys.principal_of(key.id)
    assert (again.name, again.scopes, again.agents) == ("viewer", {"read"}, {"aman"})
    assert keys.principal_of(None).scopes == {"admin"}  # the bootstrap token
    assert keys.signing_key() == "boot" and keys.now_ms() == clock.now_ms()
    clock.advance(61)
    with pytest.raises(UnauthorizedError):
        keys.principal_of(key.id)
    other, _ = await keys.create(name="other", scopes=["chat"])
    await keys.revoke(other.id)
    for gone in (other.id, "no-such-key"):
        with pytest.raises(UnauthorizedError):
            keys.principal_of(gone)
