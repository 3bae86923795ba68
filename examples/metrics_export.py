"""Prometheus metrics for a checkout service's breakers, retries, budget, batch and health.

Two remotes are called through a breaker registry: "payments" has an outage (its
circuit opens, calls are rejected, then a trial call closes it again) and "inventory"
is slow but healthy, behind an adaptive concurrency limit that its timeouts bring down.
A retry policy with a retry budget retries the failures, a batch job reconciles orders,
and health checks report the database and the cache. Then the script prints what a
Prometheus scrape of ``/metrics`` would get.

The remotes are simulated and time is a FakeClock, so the script runs in an instant.
In a service, register the collector with ``prometheus_client.REGISTRY`` and serve it
with ``prometheus_client.start_http_server(9464)`` (or the WSGI/ASGI app).
"""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, generate_latest

from resilience import (
    AIMD,
    AdaptiveLimiter,
    Backoff,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    HealthRegistry,
    RetryBudget,
    RetryPolicy,
)
from resilience.contrib.prometheus import PrometheusCollector
from resilience.testing import FakeClock

clock = FakeClock()
rng = random.Random(7)

breakers = BreakerRegistry(BreakerConfig(failure_threshold=3, open_for=30), clock=clock)
budget = RetryBudget(ratio=0.2, min_per_second=0.1, clock=clock)
health = HealthRegistry(clock=clock)
health.register("database", lambda: True)
health.register("cache", lambda: False, critical=False)  # the cache is down


def reconcile(order: int) -> None:
    if order % 7 == 0:
        raise ValueError(f"order {order}: totals do not match")  # PERMANENT: fails


batch = BatchProcessor("reconcile-orders", reconcile, clock=clock)

inventory_limit = AdaptiveLimiter("inventory", AIMD(initial_limit=20), clock=clock)

collector = PrometheusCollector(
    registry=breakers,
    health=health,
    batches=[batch],
    budgets={"checkout": budget},
    strategies=[inventory_limit],  # any strategy with measurements(): read generically
)
scrape = CollectorRegistry()  # in a service: prometheus_client.REGISTRY
scrape.register(collector)

retry = RetryPolicy(
    attempts=3,
    backoff=Backoff(initial=0.2),
    budget=budget,
    clock=clock,
    on_retry=collector.on_retry,
)

payments_down = False


def charge(amount: int) -> str:
    clock.advance(rng.uniform(0.02, 0.08))  # the remote's latency
    if payments_down:
        raise ConnectionResetError("payments: connection reset by peer")
    return f"charged {amount}"


def reserve(item: str) -> str:
    clock.advance(rng.uniform(0.2, 0.6))  # slow, but it answers
    if rng.random() < 0.1:
        raise TimeoutError("inventory: read timed out")
    return f"reserved {item}"


limited_reserve = inventory_limit(reserve)  # each attempt a sample of its latency


def checkout(order: int) -> str:
    """One order: reserve the item, then charge; each call retried, each through a breaker."""
    try:
        retry.call(breakers.get("inventory").call, limited_reserve, f"sku-{order}")
        return retry.call(breakers.get("payments").call, charge, order)
    except CircuitOpenError as exc:
        return f"order {order}: payments unavailable, retry in {exc.retry_after:.0f} s"
    except (ConnectionResetError, TimeoutError) as exc:
        return f"order {order}: failed: {exc}"


for order in range(1, 41):
    payments_down = 10 <= order < 25  # an outage of payments
    result = checkout(order)
    if not result.startswith("charged"):
        print(result)
    clock.advance(1.0)
    if order == 25:
        clock.advance(30)  # the open period passes: the next call is a trial

batch.run(range(1, 30))
health.run()
health.close()

print("\nWhat a scrape of /metrics returns:\n")
print(generate_latest(scrape).decode())
