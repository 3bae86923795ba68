"""An aiohttp session with a breaker per host and safe retries, against a real aiohttp server.

The server answers 503 twice, then 200; a POST is sent once unless it carries an
``Idempotency-Key``. ``ResilientMiddleware`` is an aiohttp client middleware.
"""

from __future__ import annotations

import asyncio
from collections import deque

import aiohttp
from aiohttp import web

from resilience import Backoff, RetryPolicy, RetryScheduled
from resilience.contrib.aiohttp import ResilientMiddleware

ANSWERS: deque[int] = deque([503, 503, 200, 503, 503])
hits: list[str] = []


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"not as documented: {what}")


async def api(request: web.Request) -> web.Response:
    hits.append(f"{request.method} {request.path}")
    status = ANSWERS.popleft() if ANSWERS else 200
    return web.json_response({"status": status}, status=status)


async def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"

    def on_retry(event: RetryScheduled) -> None:
        print(f"  retry: {event.describe()}")

    middleware = ResilientMiddleware(
        retry=RetryPolicy(attempts=3, backoff=Backoff(initial=0.05), on_retry=on_retry)
    )
    async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
        print("GET /stock: 503, 503, then 200")
        async with session.get(f"{base}/stock") as response:
            print(f"  -> {response.status} {await response.json()}")
            expect(response.status == 200, "response.status == 200")
        print("POST /orders: a 503 is returned at once (POST is not idempotent)")
        async with session.post(f"{base}/orders", json={"item": 1}) as response:
            print(f"  -> {response.status}")
        print("POST /orders with an Idempotency-Key: retried")
        headers = {"Idempotency-Key": "order-1"}
        async with session.post(f"{base}/orders", json={"item": 1}, headers=headers) as response:
            print(f"  -> {response.status}")
            expect(response.status == 200, "response.status == 200")
    print(f"the server saw: {hits}")
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
