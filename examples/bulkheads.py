"""Bulkheads and an adaptive limit around a slow remote, on a real loopback HTTP server.

A thumbnail service calls an image store over HTTP. The store serves a few requests at
once quickly, and slows down as more pile up on it (each request waits for the ones
already inside). Three ways to call it, 40 requests at a time:

1. unguarded: every request goes in, and the slowest take far longer than any alone;
2. through a ``Bulkhead`` (4 at once, 8 more queued for at most 1 s): the rest are
   refused at once with ``BulkheadFullError``, so the store stays fast for those let in;
3. through an ``AdaptiveLimiter`` (Gradient2): it learns from the round trips how many
   the store takes before latency rises, and refuses beyond that.

Then the measurements that the status page and the metrics exporters show for both.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from resilience import (
    AdaptiveLimiter,
    Bulkhead,
    BulkheadFullError,
    Gradient2,
    LimitExceededError,
    RejectedError,
)

REQUESTS = 40
SERVICE_TIME = 0.004  # seconds one request takes on an idle store


class Store(BaseHTTPRequestHandler):
    """An image store: each request takes longer the more requests are inside."""

    inside = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with Store.lock:
            Store.inside += 1
            crowd = Store.inside
        time.sleep(SERVICE_TIME * crowd)  # every request inside slows the others down
        with Store.lock:
            Store.inside -= 1
        body = b"thumbnail"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        pass  # quiet


@contextmanager
def serving() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/thumb"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return bytes(response.read())


async def burst(call: Callable[[], Any]) -> tuple[list[float], int]:
    """REQUESTS calls at once, each in a thread: the latencies of successes, the refusals."""

    async def one() -> float | None:
        start = time.perf_counter()
        try:
            await call()
        except RejectedError:
            return None
        return time.perf_counter() - start

    results = await asyncio.gather(*(one() for _ in range(REQUESTS)))
    done = [r for r in results if r is not None]
    return done, len(results) - len(done)


def report(label: str, done: list[float], refused: int) -> None:
    worst = max(done) * 1000
    median = statistics.median(done) * 1000
    print(f"{label:<18} {len(done):>3} served, median {median:6.1f} ms, worst {worst:6.1f} ms; "
          f"{refused:>3} refused at once")


async def main() -> None:
    # Enough threads for every request at once: the limits are the strategies', not the pool's.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(REQUESTS))
    with serving() as url:
        async def unguarded() -> bytes:
            return await asyncio.to_thread(fetch, url)

        report("unguarded", *await burst(unguarded))

        bulkhead = Bulkhead("image-store", max_concurrent=4, max_queue=8, queue_timeout=1.0)

        @bulkhead
        async def guarded() -> bytes:
            return await asyncio.to_thread(fetch, url)

        done, refused = await burst(guarded)
        report("bulkhead 4+8", done, refused)
        if refused != REQUESTS - 12 or not bulkhead.idle:  # 4 ran, 8 waited, the rest refused
            raise SystemExit("the bulkhead let more in than 4 at once and 8 queued")

        limiter = AdaptiveLimiter(
            "image-store", Gradient2(initial_limit=20, min_limit=2, max_limit=40, smoothing=0.5)
        )

        @limiter
        async def adaptive() -> bytes:
            return await asyncio.to_thread(fetch, url)

        limits = [limiter.limit]
        for _ in range(6):  # bursts one after another: the limit learns the store
            done, refused = await burst(adaptive)
            limits.append(limiter.limit)
        report("adaptive limiter", done, refused)
        print(f"adaptive limit over six bursts: {' -> '.join(map(str, limits))}")
        if min(limits[1:]) >= limits[0]:
            raise SystemExit("latency rose with the crowd, yet the limit never came down")

        held = [limiter.before(None, (), {}) for _ in range(limiter.limit)]
        try:
            limiter.before(None, (), {})
        except LimitExceededError as exc:
            print(f"beyond the limit: {exc.subject} ({exc.in_flight} in flight)")
        for token in held:
            limiter.after(token, None, None)

    print()
    for strategy in (bulkhead, limiter):
        for m in strategy.measurements():
            print(f"{m.kind:<17} {m.name}: {m.state}; healthy={m.healthy}")
            print(f"{'':<17} gauges {dict(m.gauges)}")
            print(f"{'':<17} totals {dict(m.totals)}")
    with bulkhead, bulkhead, bulkhead, bulkhead:  # every slot held: a call queues, then gives up
        try:
            await bulkhead.acall(asyncio.sleep, 0)
        except BulkheadFullError as exc:
            print(f"\nwhat a refused caller sees:\n  {exc}")


if __name__ == "__main__":
    asyncio.run(main())
