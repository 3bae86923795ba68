"""Hedging on the loop's real timer: HTTP on loopback with a slow tail (p99 cut), a shared timer."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from resilience import CallTimeoutError, Hedge, Pipeline, Timeout

FAST = 0.002
SLOW = 0.4
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
    assert 0 < totals["hedges"] < CALLS / 2  # the slow share (more on a loaded machine), not all
    assert totals["hedge_wins"] > 0
    # Every loser is cancelled; one that had not begun yet (or was just answering) never
    # sees the CancelledError inside fetch, so on a loaded machine the count is higher.
    assert 0 < len(cancelled) <= totals["cancelled"]
    assert max(cancelled) < SLOW  # cancelled mid-request, not left to finish
    assert running == 0  # no attempt outlived its call (each loser was awaited)
    assert hedge.idle


async def test_one_shared_timer_hedges_exactly_the_calls_still_unanswered() -> None:
    """On the loop's timer, 40 calls at once: the 20 that hang get a hedge, the rest none."""
    hedge = Hedge(delay=0.005)
    first_attempts: set[int] = set()

    @hedge
    async def fetch(key: int) -> int:
        if key % 2 and key not in first_attempts:  # odd keys hang on their first attempt
            first_attempts.add(key)
            await asyncio.Event().wait()
        return key

    results = await asyncio.wait_for(asyncio.gather(*(fetch(k) for k in range(40))), timeout=5)
    assert results == list(range(40))
    (measurement,) = hedge.measurements()
    assert dict(measurement.totals) == {
        "calls": 40,
        "hedges": 20,
        "hedge_wins": 20,
        "cancelled": 20,
    }
    assert hedge.idle


async def test_each_attempt_gets_the_time_limit_inside_the_hedge() -> None:
    """Pipeline(hedge, timeout): a hung first attempt times out alone; the hedge answers."""
    calls: list[int] = []

    async def fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.Event().wait()  # hangs until cancelled
        return "ok"

    pipeline = Pipeline(Hedge(delay=0.001), Timeout(5))
    assert await pipeline.acall(fetch) == "ok"
    assert len(calls) == 2
    hung = Pipeline(Hedge(delay=10), Timeout(0.01))
    calls.clear()
    with pytest.raises(CallTimeoutError):
        await hung.acall(fetch)


async def test_an_outer_timeout_is_not_mistaken_for_a_hedge_win() -> None:
    """asyncio.timeout outside a hedge still times out: the hedge swallows only its own cancel."""
    hedge = Hedge(delay=0.0)
    cancelled: list[int] = []

    async def hangs(number: list[int]) -> None:
        number.append(len(number) + 1)
        mine = len(number)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(mine)
            raise

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):  # a real 20 ms, the loop's own timer
            await hedge.acall(hangs, [])
    assert sorted(cancelled) == [1, 2]
