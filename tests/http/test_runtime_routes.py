"""GET /runtime/integrity: SQLite's integrity check of the daemon's own database."""

from __future__ import annotations

from quart import Quart


async def test_integrity_of_a_sound_database_is_ok(app: Quart) -> None:
    response = await app.test_client().get("/runtime/integrity")
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "problems": [], "checked": True}

