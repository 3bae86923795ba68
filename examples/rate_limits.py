"""Pace calls to an API that allows 20 requests a second: alone, per host, and for a fleet.

1. One limiter: a burst passes at once, later calls wait their turn (up to max_wait),
   and one that would wait longer is refused with an exact retry_after.
2. One limiter per host, through ``resilient(rate_limiter=Remotes(...))``, async.
3. Two "processes" sharing one limit through Redis (skipped if Redis is not reachable).

    REDIS_URL=redis://127.0.0.1:6379/0 python examples/rate_limits.py
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import redis

from resilience import RateLimitedError, RateLimiter, Remotes, resilient
from resilience.testing import FakeClock

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def one_limiter() -> None:
    clock = FakeClock()  # waits are instant here; in real use leave clock= out
    api = RateLimiter("weather-api", rate=20, burst=5, max_wait=0.2, clock=clock)

    @api
    def forecast(city: str) -> str:
        return f"{city}: sunny"

    for i in range(9):
        forecast(f"city-{i}")
    print(f"1. 9 forecasts: 5 at once, 4 after waiting their turns, "
          f"{clock.monotonic():.2f} s in all")
    try:
        api.acquire(3, max_wait=0.05)  # a batch of 3 would wait 0.15 s: too long
    except RateLimitedError as exc:
        print(f"1. refused: {exc}")
        retry_after = exc.retry_after or 0.0
        clock.advance(retry_after)
        print(f"1. {retry_after:.2f} s later, 3 tokens: {api.try_acquire(3)}")


async def per_host() -> None:
    clock = FakeClock()
    hosts = Remotes(lambda host: RateLimiter(host, rate=20, burst=2, max_wait=1, clock=clock))

    @resilient(remote=lambda host, _path: host, rate_limiter=hosts)
    async def get(host: str, path: str) -> str:
        return f"GET https://{host}{path} at {clock.monotonic():.2f} s"

    for line in await asyncio.gather(*(get(h, "/") for h in ("a.example", "b.example") * 3)):
        print(f"2. {line}")
    for m in hosts.measurements():
        print(f"2. {m.name}: {m.state}, admitted {m.totals['admitted']:.0f}")


def fleet() -> None:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError) as exc:
        print(f"3. skipped: Redis is not reachable at {URL} ({exc})")
        return
    from resilience.stores import RedisRateStore  # noqa: PLC0415 - needs the redis extra

    namespace = f"example-{uuid.uuid4().hex[:8]}"
    with RedisRateStore(URL, namespace=namespace) as one, RedisRateStore(
        URL, namespace=namespace
    ) as two:
        workers = [RateLimiter("weather-api", rate=20, burst=5, store=s) for s in (one, two)]
        admitted = [0, 0]
        start = time.monotonic()
        while time.monotonic() - start < 0.5:
            for i, limiter in enumerate(workers):
                admitted[i] += limiter.try_acquire()
        print(f"3. in 0.5 s the two workers got {admitted[0]} + {admitted[1]} = "
              f"{sum(admitted)} tokens (the fleet's limit: 5 + 20 x 0.5 = 15)")
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)


if __name__ == "__main__":
    one_limiter()
    asyncio.run(per_host())
    fleet()
