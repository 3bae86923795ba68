"""Three worker processes share one breaker and one retry budget through Redis.

The remote they call is down. Each worker retries (within the fleet's retry budget)
until the breaker opens; the first to trip opens it for all of them, and each prints how
many calls it made and why it stopped.

    REDIS_URL=redis://127.0.0.1:6379/0 python examples/fleet_breakers.py
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import uuid

import redis

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    RedisBreakerStore,
    RedisRetryBudget,
    RetryPolicy,
    resilient,
)

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def worker(number: int, namespace: str, start: multiprocessing.synchronize.Barrier) -> str:
    store = RedisBreakerStore(URL, namespace=namespace)
    registry = BreakerRegistry(BreakerConfig(failure_threshold=12, open_for=30), store=store)
    budget = RedisRetryBudget(URL, name="billing-api", namespace=namespace, min_per_second=0.5)
    calls = 0

    # max_retry_after=1: a retry would otherwise wait out the open circuit's 30 s.
    retry = RetryPolicy(attempts=3, budget=budget, max_retry_after=1.0)

    @resilient("billing-api", breaker=registry, retry=retry)
    def charge(order: int) -> str:
        nonlocal calls
        calls += 1
        time.sleep(0.005)  # a refused connection still takes a round trip
        raise ConnectionError(f"billing-api refused order {order}")

    start.wait()
    for order in range(1_000):
        try:
            charge(order)
        except ConnectionError:
            continue
        except CircuitOpenError as error:
            stopped = f"stopped at order {order}: {error.reason}"
            break
    else:
        stopped = "never stopped"
    budget.close()
    store.close()
    return f"worker {number}: {calls} calls to billing-api; {stopped}"


def main() -> int:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        print(f"this example needs a Redis server at {URL} ({exc}); set REDIS_URL")
        return 1
    namespace = f"example-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Barrier(3)
    with context.Pool(3) as pool:
        lines = pool.starmap(worker, [(n, namespace, start) for n in range(3)])
    print("\n".join(lines))
    total = sum(int(line.split(": ")[1].split()[0]) for line in lines)
    print(f"the fleet: {total} calls in all before every worker stopped (threshold 12)")
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    return 0 if all("stopped at" in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
