"""Hedging real HTTP requests to a loopback server with a slow tail: p99 cut, losers cancelled."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from resilience import Hedge

FAST = 0.002
SLOW = 0.25
SLOW_SHARE = 0.1
CALLS = 200
CONCURRENCY = 20


class TailServer:
    """An aiohttp server on 127.0.0.1 whose requests take FAST, or SLOW for one in ten."""

    def __init__(self) -> None:
        self.dice = random.Random(17)
        self.requests = 0
        self.abandoned = 0  # requests whose client went away before the answer
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        delay = SLOW if self.dice.random() < SLOW_SHARE else FAST
        await asyncio.sleep(delay)
        transport = request.transport
        if transport is None or transport.is_closing():
            self.abandoned += 1
        return web.Response(text="ok")


@pytest.fixture
async def server() -> AsyncIterator[TailServer]:
    tail = TailServer()
    app = web.Application()
    app.router.add_get("/item", tail.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tail.url = f"http://127.0.0.1:{port}/item"
    try:
        yield tail
    finally:
        await runner.cleanup()


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


async def timed_calls(call: object, calls: int) -> list[float]:
    """Latency of each of ``calls`` calls, CONCURRENCY at a time."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            start = time.perf_counter()
            assert await call() == "ok"  # type: ignore[operator]
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(one() for _ in range(calls)))
    return latencies


async def test_hedging_cuts_the_p99_of_a_slow_tail_and_cancels_the_losers(
    server: TailServer,
) -> None:
    """Hedged after 30 ms, the p99 falls from the slow tail to near the fast path."""
    cancelled: list[float] = []
    inside = [0]  # attempts running now
    async with aiohttp.ClientSession() as session:

        async def fetch() -> str:
            started = time.perf_counter()
            inside[0] += 1
            try:
                async with session.get(server.url) as response:
                    return await response.text()
            except asyncio.CancelledError:
                cancelled.append(time.perf_counter() - started)
                raise
            finally:
                inside[0] -= 1

        plain = await timed_calls(fetch, CALLS)
        hedge = Hedge(delay=0.03, max_hedges=2)
        hedged = await timed_calls(hedge(fetch), CALLS)
        running = inside[0]  # read at once: every call has returned

    assert p99(plain) > SLOW * 0.9  # the tail is there without hedging
    assert p99(hedged) < SLOW / 2  # and hedging cuts it
    assert statistics.median(hedged) < SLOW / 5  # the fast path is not slowed
    (measurement,) = hedge.measurements()
    totals = measurement.totals
    assert totals["calls"] == CALLS
    assert 0 < totals["hedges"] < CALLS * 0.3  # about the slow share, not every call
    assert totals["hedge_wins"] > 0
    assert totals["cancelled"] == len(cancelled) > 0  # every loser saw its cancellation
    assert max(cancelled) < SLOW  # cancelled mid-request, not left to finish
    assert running == 0  # no attempt outlived its call (each loser was awaited)
    assert hedge.idle
