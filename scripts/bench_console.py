#!/usr/bin/env python3
"""Console benchmark: first load of /ui/, and a tab under load for minutes.

Usage: .venv/bin/python scripts/bench_console.py [--minutes 5] [--rate 200] [--sessions 50]
                                                 [--loads 5]

One real daemon (``python -m aman run``) with the ``scripted`` provider and Debian's chromium
driven by Playwright. First load: ``--loads`` fresh browser contexts open ``/ui/``; bytes
transferred (all responses, headers included) and the time from navigation to the chat view
drawn with its data (``main[data-loaded]``). Load: ``--sessions`` chat sessions with one
exchange each; one tab on a session's chat, one on the event tail; a thread pushes ``--rate``
events/s and the chat tab's session gets a 100-word reply every 10 s, for ``--minutes``. An SSE
client in this process reads the same session's stream: every reply's chunks as the server sent
them must equal what the tab drew (``window.amanStreamed``). The tail's rows are counted, and
each tab's JS heap (Chrome DevTools ``Runtime.getHeapUsage`` after a forced GC) is read every
30 s. Targets: first load < 300 KB and < 1 s; every token drawn; tail <= 1 000 rows; heap
< 50 MB after 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchlib
import httpx
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
WORDS = 100
REPLY = " ".join(f"t{i}" for i in range(WORDS))


def config() -> dict[str, Any]:
    """The daemon: a scripted 100-word reply at 15 ms a word, no rate limit in the way."""
    return {
        "runtime": {"log_level": "WARNING"},
        "event_bus": {"rate_limit_per_sec": 100000, "rate_limit_burst": 100000},
        "llm": {"default_provider": "bench", "providers": {"bench": {
            "kind": "scripted", "replies": [REPLY], "token_ms": 15}}},
        "agents": {"aman": {"queue_max_size": 100}},
    }


def first_loads(browser: Any, base: str,
                loads: int) -> tuple[list[int], list[float], list[float]]:
    """Bytes, seconds to a usable shell and seconds to the chat view drawn with its data, of
    ``loads`` cold loads of /ui/ (fresh contexts, no cache)."""
    sizes, ready, times = [], [], []
    for _ in range(loads):
        context = browser.new_context()
        page = context.new_page()
        responses: list[Any] = []

        def finished(request: Any, into: list[Any] = responses) -> None:
            into.append(request)

        page.on("requestfinished", finished)
        started = time.perf_counter()
        page.goto(f"{base}/ui/")
        page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
        ready.append(time.perf_counter() - started)
        page.wait_for_selector("main[data-loaded=chat]", timeout=30_000)
        times.append(time.perf_counter() - started)
        total = 0
        for request in responses:
            if request.url.endswith("/events/stream"):
                continue  # the stream stays open: not part of the load
            size = request.sizes()
            total += size["responseBodySize"] + size["responseHeadersSize"]
        sizes.append(total)
        context.close()
    return sizes, ready, times


def heap_mb(page: Page) -> float:
    """The tab's used JS heap after a forced GC (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    used = cdp.send("Runtime.getHeapUsage")["usedSize"]
    cdp.detach()
    return float(used) / 1e6


class Pusher(threading.Thread):
    """Pushes ``rate`` events/s from a few connections until stopped; counts what was accepted."""

    def __init__(self, base: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.base, self.rate, self.sent, self.refused = base, rate, 0, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        """Push at the set rate (behind schedule: catch up as fast as the daemon answers)."""
        with httpx.Client(base_url=self.base, timeout=10) as client:
            started = time.monotonic()
            while not self.stopping.is_set():
                due = int((time.monotonic() - started) * self.rate)
                while self.sent + self.refused < due and not self.stopping.is_set():
                    answer = client.post("/events/push", json={
                        "source": f"bench:{self.sent % 7}", "type": "bench.tick",
                        "priority": "low", "payload": {"n": self.sent}})
                    if answer.status_code < 300:
                        self.sent += 1
                    else:
                        self.refused += 1
                time.sleep(0.002)


class SessionReader(threading.Thread):
    """The chat session's own stream, read like any client: each reply's text as sent."""

    def __init__(self, base: str, session_id: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{base}/chat/session/{session_id}/stream"
        self.texts: dict[str, str] = {}
        self.done: list[str] = []

    def run(self) -> None:
        """Read until the daemon goes away."""
        with httpx.Client(timeout=None) as client, client.stream("GET", self.url) as response:
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                payload = event.get("payload") or {}
                if event.get("event_type") == "agent:reply_chunk":
                    key = payload["message_id"]
                    self.texts[key] = self.texts.get(key, "") + payload["delta"]
                elif event.get("event_type") == "agent:reply_ready":
                    self.done.append(payload["message_id"])


def main() -> None:
    """Parse arguments, start the daemon, measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = benchlib.launch(Path(tmp), config())
        try:
            run(base, args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def run(base: str, args: argparse.Namespace) -> None:
    """Both measurements against the daemon at ``base``; prints the figures."""
    client = httpx.Client(base_url=base, timeout=30)
    sessions = []
    for i in range(args.sessions):
        created = client.post("/chat/session/create", json={"title": f"bench {i}"}).json()
        client.post(f"/chat/session/{created['id']}/send", json={"text": "hi", "wait": True})
        sessions.append(created["id"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        sizes, ready, times = first_loads(browser, base, args.loads)
        print(f"first load: {statistics.median(sizes) / 1024:.1f} KB; shell usable: median "
              f"{statistics.median(ready) * 1000:.0f} ms (max {max(ready) * 1000:.0f} ms); chat "
              f"drawn with its data: median {statistics.median(times) * 1000:.0f} ms "
              f"(max {max(times) * 1000:.0f} ms)")
        context = browser.new_context()
        chat, tail = context.new_page(), context.new_page()
        chat.goto(f"{base}/ui/#/chat/{sessions[0]}")
        chat.wait_for_selector("main[data-loaded=chat]", timeout=30_000)
        tail.goto(f"{base}/ui/#/events")
        tail.wait_for_selector("main[data-loaded=events]", timeout=30_000)
        reader = SessionReader(base, sessions[0])
        reader.start()
        heaps = [(0.0, heap_mb(chat), heap_mb(tail))]
        pushers = [Pusher(base, args.rate / 6) for _ in range(6)]
        for pusher in pushers:
            pusher.start()
        started = time.monotonic()
        end = started + args.minutes * 60
        next_message, next_heap = started, started + 30
        replies = 0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_message:
                client.post(f"/chat/session/{sessions[0]}/send", json={"text": f"r{replies}"})
                replies += 1
                next_message = now + 10
            if now >= next_heap:
                heaps.append((now - started, heap_mb(chat), heap_mb(tail)))
                next_heap = now + 30
            chat.wait_for_timeout(200)
        for pusher in pushers:
            pusher.stopping.set()
            pusher.join()
        elapsed = time.monotonic() - started
        chat.wait_for_timeout(3000)  # the last reply finishes
        heaps.append((elapsed, heap_mb(chat), heap_mb(tail)))
        drawn: dict[str, str] = dict(chat.evaluate("Object.fromEntries(window.amanStreamed)"))
        finished = [m for m in reader.done if m in reader.texts]
        complete = [m for m in finished if drawn.get(m) == reader.texts[m]]
        rows = tail.evaluate("window.amanTail || {rows: 0, dropped: 0}")
        dom_rows = tail.locator("table.tail tbody tr").count()
        browser.close()
    checked = [m for m in finished if m in drawn]
    sent, refused = sum(p.sent for p in pushers), sum(p.refused for p in pushers)
    print(f"load: {elapsed:.0f} s, {sent / elapsed:.0f} events/s accepted "
          f"({refused} refused), {args.sessions} sessions, {replies} replies")
    print(f"chat: {len(complete)} of {len(checked)} replies drawn token for token "
          f"({WORDS} words each)")
    print(f"tail: {dom_rows} rows in the DOM, {rows['dropped']} older rows dropped")
    for at, chat_mb, tail_mb in heaps:
        print(f"heap at {at:5.0f} s: chat tab {chat_mb:.1f} MB, events tab {tail_mb:.1f} MB")


if __name__ == "__main__":
    main()
