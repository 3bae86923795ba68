"""A live status page for a file manager's remotes, served for a few seconds.

Five remotes behind a BreakerRegistry (one failing, one recovering, one in maintenance),
an adaptive concurrency limit per remote, a bulkhead around uploads that is full,
health checks kept fresh by a monitor, a finished batch job and one still running:
``resilience.web.status_app`` shows them all, updated live, at the URL printed. The
script serves on 127.0.0.1 for ``--seconds`` (3 by default), reads its own
``/api/status`` once to show what the page shows, and stops.

    python examples/status_page.py --seconds 60        # then open the URL printed
    python examples/status_page.py --screenshot docs/status-page.png

``--screenshot`` needs playwright (``pip install playwright``) and Chromium at
``/usr/bin/chromium`` (``apt-get install chromium``; ``RESILIENCE_CHROMIUM`` names
another binary).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from resilience import (
    AdaptiveLimiter,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    Bulkhead,
    CheckResult,
    CircuitOpenError,
    ComponentStatus,
    Gradient2,
    HealthRegistry,
    Remotes,
)
from resilience.web import StatusApp, status_app

REMOTES = ("gdrive", "webdav", "s3-eu", "dropbox", "onedrive")


class Flaky:
    """A simulated remote failing a share of its calls."""

    def __init__(self, name: str, failure_rate: float, rng: random.Random) -> None:
        self.name, self.failure_rate, self.rng = name, failure_rate, rng

    def list(self) -> list[str]:
        if self.rng.random() < self.failure_rate:
            raise ConnectionResetError(f"{self.name}: connection reset by peer")
        return ["report.pdf", "photo.jpg"]


class Items:
    """Items 0..n-1, with a length (so the page shows a total), until ``stop`` is set."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        self.n, self.stop = n, stop

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        for item in range(self.n):
            if self.stop.is_set():
                return
            yield item


def build(stop: threading.Event) -> tuple[StatusApp, list[threading.Thread], HealthRegistry]:
    rng = random.Random(7)
    registry = BreakerRegistry(
        BreakerConfig(failure_rate=0.5, window=20, minimum_calls=5, open_for=60),
        overrides={
            "dropbox": BreakerConfig(failure_threshold=3, open_for=0.2, success_threshold=3)
        },
    )
    remotes = {
        "gdrive": Flaky("gdrive", 0.1, rng),
        "webdav": Flaky("webdav", 0.02, rng),
        "s3-eu": Flaky("s3-eu", 1.0, rng),
        "dropbox": Flaky("dropbox", 0.0, rng),
        "onedrive": Flaky("onedrive", 0.0, rng),
    }

    health = HealthRegistry(default_timeout=1)
    health.register("database", lambda: True)
    health.register(
        "cache",
        lambda: CheckResult(ComponentStatus.WARNING, "cache cold: 62 % hit rate"),
        critical=False,
    )

    def search() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    health.register("search-index", search, critical=False)
    health.add_breakers(registry)

    def copy(item: int) -> None:
        if item % 41 == 17:
            raise PermissionError(f"photos/{item:05d}.jpg: permission denied")

    def upload(item: int) -> None:
        time.sleep(0.005)
        copy(item)

    def remote_of(item: int) -> str:
        return ("gdrive", "webdav", "s3-eu")[item % 3]

    nightly = BatchProcessor("nightly-export", copy)
    photos = BatchProcessor("sync-photos", upload, breaker=registry, remote=remote_of)

    limits = Remotes(lambda remote: AdaptiveLimiter(remote, Gradient2(initial_limit=8)))
    uploads = Bulkhead("uploads", max_concurrent=2)

    # Built before the traffic, so that the page lists what happens from here on.
    app = status_app(
        registry=registry,
        health=health,
        batches=[nightly, photos],
        strategies=[uploads, limits],
        title="file manager",
    )

    def call(remote: str) -> None:
        with contextlib.suppress(ConnectionError, CircuitOpenError):  # the page shows them
            limits.get(remote).call(registry.get(remote).call, remotes[remote].list)

    for _ in range(20):
        for remote in ("gdrive", "webdav", "s3-eu"):
            call(remote)
    for _ in range(3):  # dropbox fails three times in a row, then recovers
        remotes["dropbox"].failure_rate = 1.0
        call("dropbox")
    remotes["dropbox"].failure_rate = 0.0
    time.sleep(0.25)
    call("dropbox")  # a first trial call succeeds: HALF_OPEN, two more to close it
    registry.get("onedrive").force_open()  # planned maintenance
    call("onedrive")
    nightly.run(range(200))
    health.run()

    def upload_forever() -> None:
        with uploads:  # holds one of the two upload slots while the page is served
            stop.wait()

    def traffic() -> None:
        while not stop.wait(0.05):
            for remote in ("gdrive", "webdav", "s3-eu", "onedrive"):
                call(remote)

    def monitor() -> None:
        with health.monitor(interval=1):
            stop.wait()

    threads = [
        threading.Thread(target=traffic, daemon=True),
        threading.Thread(target=upload_forever, daemon=True),
        threading.Thread(target=upload_forever, daemon=True),
        threading.Thread(target=monitor, daemon=True),
        threading.Thread(target=photos.run, args=(Items(900, stop),), daemon=True),
    ]
    return app, threads, health


def screenshot(url: str, path: Path) -> None:
    """Open the page in headless Chromium and save a PNG of it once it is live."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional
    except ImportError:
        sys.exit("--screenshot needs playwright: pip install playwright")
    chromium = os.environ.get("RESILIENCE_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.emulate_media(color_scheme="light")
            page.goto(url)
            page.wait_for_selector('#connection[data-connection="live"]')
            page.wait_for_selector('[data-remote="s3-eu"][data-state="OPEN"]')
            page.wait_for_timeout(1500)  # let the running batch make some progress
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=path, full_page=True)
        finally:
            browser.close()
    print(f"  screenshot: {path} ({path.stat().st_size // 1024} KiB)")


def summary(url: str) -> None:
    """What the page shows, read from its JSON endpoint."""
    with urllib.request.urlopen(f"{url}api/status", timeout=5) as response:  # noqa: S310
        status = json.load(response)
    states = ", ".join(f"{b['remote']} {b['state']}" for b in status["breakers"])
    print(f"  remotes: {states}")
    health = status["health"]
    parts = ", ".join(f"{c['name']} {c['status']}" for c in health["components"])
    print(f"  health: {health['status']} ({parts})")
    for b in status["batches"]:
        state = "running" if b["running"] else "finished"
        print(
            f"  batch {b['job']}: {b['processed']}/{b['total']} {state}, "
            f"{b['failed']} failed, {b['deferred']} deferred"
        )
    for row in status["strategies"]:
        healthy = "" if row["healthy"] else " (turning calls away)"
        print(f"  {row['kind']} {row['name']}: {row['state']}{healthy}")
    print(f"  recent events: {len(status['events'])}, e.g. {status['events'][0]['text']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to serve")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the page here")
    args = parser.parse_args()

    stop = threading.Event()
    app, threads, health = build(stop)
    sock = socket.socket()
    sock.bind(("127.0.0.1", args.port))  # loopback only: the page shows internal state
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    started = time.monotonic()
    thread.start()
    for worker in threads:
        worker.start()
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() - started > 10:
                sys.exit("uvicorn did not start")
            time.sleep(0.02)
        print(f"status page: {url}  (serving for {args.seconds:g} s; Ctrl+C stops it)")
        if args.screenshot is not None:
            screenshot(url, args.screenshot)
        summary(url)
        time.sleep(max(0.0, started + args.seconds - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        app.close()  # end the open event streams, so that uvicorn stops at once
        server.should_exit = True
        thread.join(10)
        for worker in threads:
            worker.join(10)
        health.close()
        sock.close()
    print(f"stopped after {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
