"""One scenario for the metrics tests: breakers opening, retries, a refused retry, a batch, health.

The OpenTelemetry and Prometheus tests run it and read the same facts in their own form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from resilience import (
    Backoff,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    CheckResult,
    CircuitOpenError,
    CircuitState,
    ComponentStatus,
    HealthRegistry,
    RetryBudget,
    RetryPolicy,
    RetryScheduled,
)
from resilience.testing import FakeClock


@dataclass
class World:
    clock: FakeClock
    registry: BreakerRegistry
    health: HealthRegistry
    batch: BatchProcessor
    budget: RetryBudget


def handle(item: int) -> None:
    if item == 3:
        raise ValueError("bad row")  # PERMANENT: the item fails
    if item == 4:
        raise CircuitOpenError("ledger", CircuitState.OPEN, 5.0, "ledger down")  # deferred


def world() -> World:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=10), clock=clock)
    health = HealthRegistry(clock=clock)
    health.register("db", lambda: True)
    health.register("cache", lambda: False)
    health.register("disk", lambda: CheckResult(ComponentStatus.WARNING, "80% full"))
    batch = BatchProcessor("import", handle, clock=clock)
    budget = RetryBudget(ratio=0, min_per_second=0, clock=clock)  # refuses every retry
    return World(clock, registry, health, batch, budget)


def fail(exc: Exception) -> None:
    raise exc


def traffic(w: World, on_retry: Callable[[RetryScheduled], object]) -> None:
    """The scenario: calls until OPEN, a rejection, retries, a refused retry, a batch, health."""
    payments = w.registry.get("payments")
    payments.call(w.clock.advance, 0.2)  # success, 0.2 s
    with pytest.raises(ValueError):
        payments.call(fail, ValueError("bad request"))  # PERMANENT: ignored
    for _ in range(2):
        with pytest.raises(ConnectionError):
            payments.call(fail, ConnectionError("reset"))  # failures: the second opens it
    assert payments.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        payments.call(w.clock.advance, 1)  # rejected
    w.registry.get("search").call(w.clock.advance, 0.03)

    errors = iter([ConnectionError("reset"), TimeoutError("slow")])

    def flaky() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "ok"

    policy = RetryPolicy(
        attempts=3,
        backoff=Backoff(initial=0.5, jitter="none"),
        clock=w.clock,
        on_retry=on_retry,
    )
    assert policy.call(flaky) == "ok"  # two retries: 0.5 s, then 1 s (on the fake clock)
    refused = RetryPolicy(budget=w.budget, clock=w.clock, on_retry=on_retry)
    with pytest.raises(ConnectionError):
        refused.call(fail, ConnectionError("reset"))  # the budget refuses: no retry

    result = w.batch.run([1, 2, 3, 4])
    assert (result.succeeded, len(result.failed), len(result.deferred)) == (2, 1, 1)
    w.health.run()
    w.health.close()
