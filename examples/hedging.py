"""Hedging requests to a server with a slow tail: the p99 falls close to the median.

A small HTTP server on 127.0.0.1 answers in 2 ms, except one request in ten that takes
200 ms. The same 300 requests are sent without a hedge, then with
``Hedge(delay=0.02, max_hedges=2)``: a request still unanswered after 20 ms gets a second
one (and, 20 ms later, a third); the first answer wins and the others are cancelled.

    python examples/hedging.py
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable

from resilience import Hedge

FAST, SLOW, SLOW_SHARE = 0.002, 0.2, 0.1
REQUESTS, AT_ONCE = 300, 25


ANSWERING: set[asyncio.Task[object]] = set()  # the server's requests in progress


async def serve(dice: random.Random) -> asyncio.Server:
    """An HTTP/1.0 server with a slow tail, on a free loopback port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            ANSWERING.add(task)
            task.add_done_callback(ANSWERING.discard)
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(SLOW if dice.random() < SLOW_SHARE else FAST)
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # a hedged request's loser hung up: nothing to answer
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


def client(port: int) -> Callable[[], Awaitable[str]]:
    async def get() -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /item HTTP/1.0\r\nHost: localhost\r\n\r\n")
            response = await reader.read()
        finally:
            writer.close()  # also when cancelled: the loser's connection is closed
        return response.split(b"\r\n\r\n", 1)[1].decode()

    return get


async def latencies(call: Callable[[], Awaitable[str]]) -> list[float]:
    gate = asyncio.Semaphore(AT_ONCE)
    took: list[float] = []

    async def one() -> None:
        async with gate:
            start = time.perf_counter()
            if await call() != "ok":
                raise SystemExit("the server answered something else")
            took.append(time.perf_counter() - start)

    await asyncio.gather(*(one() for _ in range(REQUESTS)))
    return took


def summary(label: str, took: list[float]) -> str:
    cuts = statistics.quantiles(took, n=100)
    return f"{label:14} p50 {cuts[49] * 1000:6.1f} ms   p99 {cuts[98] * 1000:6.1f} ms"


async def main() -> None:
    server = await serve(random.Random(3))
    port = server.sockets[0].getsockname()[1]
    get = client(port)
    async with server:
        plain = await latencies(get)
        hedge = Hedge(delay=0.02, max_hedges=2, name="items")
        hedged = await latencies(hedge(get))
        if ANSWERING:  # let the server finish what the cancelled losers had asked
            await asyncio.wait(ANSWERING, timeout=2)
    print(summary("without hedge", plain))
    print(summary("with hedge", hedged))
    (measurement,) = hedge.measurements()
    print(f"hedge: {measurement.state}; losers cancelled: {measurement.totals['cancelled']:.0f}")
    if statistics.quantiles(hedged, n=100)[98] >= statistics.quantiles(plain, n=100)[98]:
        raise SystemExit("hedging did not cut the p99")


if __name__ == "__main__":
    asyncio.run(main())
