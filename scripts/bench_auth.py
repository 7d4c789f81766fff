#!/usr/bin/env python3
"""API key check benchmark: what authenticating a request with a scoped key costs.

Usage: .venv/bin/python scripts/bench_auth.py [--requests 3000]
Target: the key check adds < 0.2 ms per request.

Two daemons in the same run, requests interleaved so both see the same machine load: one without
a token (no check at all) and one with ``http.token`` and a stored ``read`` key, both answering
``GET /events/types`` (a cheap route that needs authentication when it is on). The difference of
the medians is what the check costs over HTTP; the in-process figure times ``KeyService
.authenticate`` plus the scope check alone, which is the part the HTTP figure cannot resolve.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import launch, percentile

TOKEN = "bench-token-0123456789"


def in_process(rounds: int) -> float:
    """Microseconds per authenticate + scope check of a stored key, in this process."""
    import asyncio

    from aman.auth.scopes import allows, required_scopes
    from aman.auth.service import KeyService, hash_secret
    from aman.clock import SystemClock
    from aman.config.auth import AuthSettings

    class MemoryRepo:
        async def all(self) -> list[object]:
            return []

        async def add(self, key: object) -> None:
            return None

        async def revoke(self, key_id: str, *, now_ms: int) -> None:
            return None

        async def touch(self, last_used: dict[str, int]) -> None:
            return None

    keys = KeyService(MemoryRepo(), SystemClock(), token=lambda: TOKEN,  # type: ignore[arg-type]
                      config=lambda: AuthSettings(), known_agents=lambda: [])

    async def make() -> str:
        await keys.start()
        _, secret = await keys.create(name="bench", scopes=["read"])
        return secret

    secret = asyncio.run(make())
    assert keys.authenticate(secret).name == "bench" and hash_secret(secret)
    started = time.perf_counter()
    for _ in range(rounds):
        principal = keys.authenticate(secret)
        allows(principal.scopes, required_scopes("GET", None))
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    """Run both daemons, interleave requests, print the medians and the in-process cost."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        open_dir, keyed_dir = Path(tmp, "open"), Path(tmp, "keyed")
        open_dir.mkdir()
        keyed_dir.mkdir()
        open_proc, open_base = launch(open_dir, {})
        keyed_proc, keyed_base = launch(keyed_dir, {"http": {"token": TOKEN}})
        try:
            with httpx.Client(timeout=10.0) as client:
                created = client.post(f"{keyed_base}/auth/keys", json={
                    "name": "bench", "scopes": ["read"]},
                    headers={"Authorization": f"Bearer {TOKEN}", "x-aman-confirm": "yes"})
                created.raise_for_status()
                key = {"Authorization": f"Bearer {created.json()['secret']}"}
                plain: list[float] = []
                keyed: list[float] = []
                for i in range(args.requests + 200):
                    for base, headers, out in ((open_base, {}, plain), (keyed_base, key, keyed)):
                        started = time.perf_counter()
                        response = client.get(f"{base}/events/types", headers=headers)
                        elapsed = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, response.text
                        if i >= 200:  # warm-up
                            out.append(elapsed)
        finally:
            for proc in (open_proc, keyed_proc):
                proc.terminate()
                proc.wait(timeout=30)
    p50_plain, p50_keyed = statistics.median(plain), statistics.median(keyed)
    print(f"GET /events/types, {args.requests} requests each, interleaved")
    print(f"  no auth:        p50 {p50_plain:.3f} ms  p99 {percentile(plain, 0.99):.3f} ms")
    print(f"  scoped key:     p50 {p50_keyed:.3f} ms  p99 {percentile(keyed, 0.99):.3f} ms")
    print(f"  difference p50: {p50_keyed - p50_plain:+.3f} ms (target < 0.2 ms)")
    print(f"  in process: authenticate + scope check {in_process(100_000):.2f} µs per request")


if __name__ == "__main__":
    main()
