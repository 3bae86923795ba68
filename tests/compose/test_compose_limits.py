"""resilient(bulkhead=..., limiter=...): their place in the pipeline, alone and per remote."""

from __future__ import annotations

import asyncio

import pytest

from resilience import (
    AIMD,
    AdaptiveLimiter,
    Backoff,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    Remotes,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock


def test_order_retry_breaker_bulkhead_limiter_timeout() -> None:
    """Each attempt goes retry, breaker, bulkhead, limiter, then the time limit."""
    clock = FakeClock()
    bulkhead = Bulkhead("db", max_concurrent=1)
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=10), clock=clock)
    breaker = CircuitBreaker("db", clock=clock)
    seen: list[tuple[int, int]] = []

    def flaky() -> str:
        seen.append((bulkhead.in_use, limiter.in_flight))
        if len(seen) < 2:
            raise TimeoutError("slow")
        return "ok"

    policy = resilient(
        retry=RetryPolicy(attempts=2, backoff=Backoff(initial=0.01), clock=clock),
        breaker=breaker,
        bulkhead=bulkhead,
        limiter=limiter,
        timeout=5,
        clock=clock,
    )
    assert policy.call(flaky) == "ok"
    assert seen == [(1, 1), (1, 1)]  # each attempt holds a slot and a place
    assert limiter.limit == 9  # the timed-out attempt was a drop
    assert bulkhead.idle
    assert "bulkhead=Bulkhead('db'" in repr(policy)
    assert "limiter=AdaptiveLimiter('db'" in repr(policy)


def test_a_full_bulkhead_goes_to_the_fallback() -> None:
    """A refusal by the bulkhead is the outcome the fallback sees."""
    bulkhead = Bulkhead("db", max_concurrent=1)
    policy = resilient(bulkhead=bulkhead, fallback=lambda exc: type(exc).__name__)
    with bulkhead:
        assert policy.call(lambda: "never") == "BulkheadFullError"


def test_per_remote_through_remotes() -> None:
    """With Remotes, remote= picks each call's bulkhead and limiter, sync and async."""
    bulkheads = Remotes(lambda remote: Bulkhead(remote, max_concurrent=1))
    limiters = Remotes(AdaptiveLimiter)
    policy = resilient(remote=lambda host: host, bulkhead=bulkheads, limiter=limiters)

    @policy
    def fetch(host: str) -> tuple[int, int]:
        return bulkheads.get(host).in_use, limiters.get(host).in_flight

    assert fetch("s3") == (1, 1)
    with bulkheads.get("s3"), pytest.raises(BulkheadFullError):
        fetch("s3")
    assert fetch("gcs") == (1, 1)

    @policy
    async def afetch(host: str) -> int:
        return bulkheads.get(host).in_use

    assert asyncio.run(afetch("s3")) == 1


def test_bad_arguments_say_why() -> None:
    """A wrong type, or Remotes without remote=, is a TypeError naming the keyword."""
    with pytest.raises(TypeError, match=r"resilient\(bulkhead=\.\.\.\) must be a Bulkhead"):
        resilient(bulkhead=AdaptiveLimiter("db"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"resilient\(limiter=\.\.\.\) must be an AdaptiveLimiter"):
        resilient(limiter=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs remote="):
        resilient(bulkhead=Remotes(Bulkhead))
