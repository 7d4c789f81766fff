#!/usr/bin/env python3
"""IM conversation benchmark: a Telegram message in, the agent's reply out at the platform.

Usage: .venv/bin/python scripts/bench_im.py [--chats 20] [--rounds 10]

One real daemon with the ``scripted`` provider (an instant reply echoing the message) and two
Telegram channels holding conversations, whose ``api_base`` points at a fake Bot API served by
this process: ``bench`` in webhook mode and ``poll`` in poll mode (``getUpdates`` long polling).
Each round sends one update from each of ``--chats`` chats at once and waits for every reply;
latency = update sent (webhook POST, or queued at the fake for ``getUpdates``) → ``sendMessage``
received by the fake platform, i.e. the intake, the durable inbound event, the session message,
the turn, the reply fact, the durable outbound event and the HTTP send. Webhook and poll rounds
alternate, so both see the same machine. The same rounds then go through
``POST /chat/session/{id}/send`` with ``wait: true`` (the REST path without the platform legs),
so the ratio of the medians, taken in one run, is what IM adds on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import benchlib
import httpx
from benchlib import percentile

SECRET = "bench-secret"


class FakeTelegram:
    """Records when each reply text arrives at ``/bot<token>/sendMessage``; serves updates queued
    with ``queue`` to ``getUpdates`` long polls as they arrive."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        self.pending: list[dict[str, Any]] = []
        self.queued = threading.Condition(self.lock)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if self.path.endswith("/getUpdates"):
                    result = fake.take(body.get("offset"), float(body.get("timeout", 0)))
                    self.answer(json.dumps({"ok": True, "result": result}).encode())
                    return
                with fake.lock:
                    fake.arrived[body["text"]] = time.perf_counter()
                self.answer(b'{"ok":true,"result":{"message_id":1}}')

            def answer(self, data: bytes) -> None:
                """A 200 with a JSON body."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def queue(self, updates: list[dict[str, Any]]) -> None:
        """Updates someone just wrote to the polling bot."""
        with self.lock:
            self.pending.extend(updates)
            self.queued.notify_all()

    def take(self, offset: int | None, timeout: float) -> list[dict[str, Any]]:
        """``getUpdates``: forget what ``offset`` confirms, wait up to ``timeout`` for more."""
        deadline = time.monotonic() + min(timeout, 5.0)
        with self.lock:
            if offset is not None:
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
            while not self.pending and time.monotonic() < deadline:
                self.queued.wait(deadline - time.monotonic())
            return list(self.pending)


def update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """A private text message update as Telegram sends it."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "from": {"id": chat_id, "is_bot": False, "first_name": "Bench"},
        "chat": {"id": chat_id, "type": "private", "first_name": "Bench"}}}


async def im_round(client: httpx.AsyncClient, fake: FakeTelegram, base: str, round_no: int,
                   chats: int, mode: str) -> list[float]:
    """One message from each chat at once, by webhook or by polling; the latency of each."""
    sent: dict[str, float] = {}
    tag = "w" if mode == "webhook" else "p"

    async def one(chat: int) -> None:
        text = f"{tag}{round_no}c{chat}"
        sent[f"ok {text}"] = time.perf_counter()
        response = await client.post(
            f"{base}/im/telegram/bench/webhook",
            json=update(round_no * 10_000 + chat, 1_000 + chat, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        response.raise_for_status()

    if mode == "webhook":
        await asyncio.gather(*(one(chat) for chat in range(chats)))
    else:
        updates = []
        for chat in range(chats):
            text = f"{tag}{round_no}c{chat}"
            sent[f"ok {text}"] = time.perf_counter()
            updates.append(update(round_no * 10_000 + chat, 1_000 + chat, text))
        fake.queue(updates)
    deadline = time.monotonic() + 30
    while True:
        with fake.lock:
            if all(key in fake.arrived for key in sent):
                return [fake.arrived[key] - at for key, at in sent.items()]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mode} replies did not all arrive within 30 s")
        await asyncio.sleep(0.002)


async def rest_round(client: httpx.AsyncClient, base: str, sessions: list[str],
                     round_no: int) -> list[float]:
    """One message in each REST session at once, each waiting for its reply."""

    async def one(index: int, session: str) -> float:
        started = time.perf_counter()
        response = await client.post(f"{base}/chat/session/{session}/send",
                                     json={"text": f"r{round_no}s{index}", "wait": True})
        response.raise_for_status()
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(sessions))))


async def measure(base: str, fake: FakeTelegram, chats: int, rounds: int) -> dict[str, list[float]]:
    """Webhook and poll rounds alternating, then the same rounds over REST."""
    found: dict[str, list[float]] = {"webhook": [], "poll": [], "rest": []}
    async with httpx.AsyncClient(timeout=30) as client:
        for mode in ("webhook", "poll"):  # warm-up: sessions are created here
            await im_round(client, fake, base, 0, chats, mode)
        for r in range(1, rounds + 1):
            for mode in ("webhook", "poll"):
                found[mode] += await im_round(client, fake, base, r, chats, mode)
        sessions = [(await client.post(f"{base}/chat/session/create", json={})).json()["id"]
                    for _ in range(chats)]
        await rest_round(client, base, sessions, 0)
        found["rest"] = [x for r in range(1, rounds + 1)
                         for x in await rest_round(client, base, sessions, r)]
    return found


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    fake = FakeTelegram()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = benchlib.launch(Path(tmp), {
            "runtime": {"log_level": "WARNING"},
            "event_bus": {"rate_limit_per_sec": 100000, "rate_limit_burst": 100000},
            "llm": {"default_provider": "bench", "providers": {"bench": {
                "kind": "scripted", "replies": ["ok {input}"]}}},
            "agents": {"aman": {"queue_max_size": 100}},
            "channels": {"telegram": {
                "bench": {"secret": SECRET, "bot_token": "1:bench", "api_base": fake.url,
                          "chat": {"session_per": "chat"}},
                # No secret and a bot token: poll mode.
                "poll": {"bot_token": "2:poll", "api_base": fake.url,
                         "chat": {"session_per": "chat"}}}},
        })
        try:
            found = asyncio.run(measure(base, fake, args.chats, args.rounds))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
            fake.server.shutdown()
    for name, values in found.items():
        ms = [v * 1000 for v in values]
        print(f"{name}: n={len(ms)} p50={percentile(ms, 0.5):.1f} ms "
              f"p99={percentile(ms, 0.99):.1f} ms")
    webhook, poll = percentile(found["webhook"], 0.5), percentile(found["poll"], 0.5)
    ratio = webhook / percentile(found["rest"], 0.5)
    print(f"webhook IM p50 / REST p50 = {ratio:.2f} ({args.chats} chats at once, "
          f"{args.rounds} rounds)")
    gap = (poll - webhook) * 1000
    print(f"poll p50 - webhook p50 = {gap:+.1f} ms (target: within 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
