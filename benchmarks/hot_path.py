"""What each part of the hot path costs: ``python benchmarks/hot_path.py``.

Times, with timeit (best of several repeats), the layers a call goes through, from a
bare call to the composed decorator, so that each layer's cost is the difference
between two lines. The numbers in docs/performance.md come from this script.
"""

from __future__ import annotations

import asyncio
import sys
import timeit
from collections.abc import Callable

from run import flaky, work  # benchmarks/ is on sys.path when run as a script

from resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    HealthRegistry,
    RetryPolicy,
    resilient,
)
from resilience._classify.classifier import Classifier
from resilience._retry.run import new_run

N = 200_000


def generic(*args: object, **kwargs: object) -> object:
    """The least any decorator for arbitrary functions does: pack, call, unpack."""
    return work(*args, **kwargs)  # type: ignore[arg-type]


def best(stmt: Callable[[], object], number: int = N) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=7)) / number * 1e9


def main() -> None:
    breaker = CircuitBreaker("b")(work)
    windowed = CircuitBreaker("w", BreakerConfig(failure_rate=0.5, window=100))(work)
    retry = RetryPolicy()(work)
    fused = resilient(retry=RetryPolicy(), breaker=CircuitBreaker("c"))(work)
    layered = resilient(retry=RetryPolicy(), breaker=CircuitBreaker("d"), timeout=1e9)(work)
    registry = BreakerRegistry()
    registry.get("s3-eu")
    protected = registry.protect(lambda _x: "s3-eu")(work)
    zero = Backoff(initial=0, jitter="none")
    fail_once = RetryPolicy(attempts=3, backoff=zero)(flaky())
    policy = RetryPolicy(attempts=3, backoff=zero)
    error = ConnectionResetError()
    classifier = Classifier.default()

    def first_failure(exc: Exception) -> object:
        # The policy's own after(): for a plain policy, the short path of its usual failure.
        return policy.after(new_run(policy.settings, None), None, exc)

    health = HealthRegistry()
    for i in range(5):
        health.register(f"sync-{i}", lambda: True)
    ahealth = HealthRegistry()

    async def ok() -> bool:
        return True

    for i in range(5):
        ahealth.register(f"async-{i}", ok)
    monitor = health.monitor(interval=30)

    rows: list[tuple[str, float]] = [
        ("bare call", best(lambda: work(1))),
        ("generic *args/**kwargs wrapper", best(lambda: generic(1))),
        ("CircuitBreaker decorator (CLOSED)", best(lambda: breaker(1))),
        ("CircuitBreaker with a 100-call window", best(lambda: windowed(1))),
        ("RetryPolicy decorator, success", best(lambda: retry(1))),
        ("resilient(retry+breaker), fused", best(lambda: fused(1))),
        ("resilient(...) layered (timeout set)", best(lambda: layered(1))),
        ("registry.get(existing)", best(lambda: registry.get("s3-eu"))),
        ("registry.protect(fn of args)", best(lambda: protected(1))),
        ("one failure then success, retried", best(lambda: fail_once(1), N // 10)),
        ("  of which: classify(ConnectionResetError)", best(lambda: classifier.classify(error))),
        ("  of which: the retry's after(error)", best(lambda: first_failure(error))),
        ("health.run(): 5 no-op sync checks", best(health.run, 2_000)),
        ("health.arun(): 5 no-op async checks", best(lambda: asyncio.run(ahealth.arun()), 500)),
    ]
    print(f"Python {sys.version.split()[0]}; best of 7 repeats; ns per call")
    bare = rows[0][1]
    for name, value in rows:
        print(f"  {name:44} {value:8.0f}  (+{value - bare:.0f})")
    for _ in range(20):
        monitor.tick()
    share = monitor.busy / monitor.rounds / 30
    print(f"  health monitor, 5 checks every 30 s: {share:.5%} of one core")
    health.close()
    ahealth.close()


if __name__ == "__main__":
    main()
