"""resilient(hedge=..., chaos=...): where the two sit in the composed pipeline."""

from __future__ import annotations

from resilience import CircuitBreaker, Fallback, Hedge, RetryPolicy, Timeout, resilient
from resilience.chaos import InjectLatency


def test_hedge_sits_inside_the_breaker_and_chaos_innermost() -> None:
    """Outermost first: fallback, retry, breaker, hedge, timeout, chaos."""
    hedge = Hedge(delay=0.1)
    chaos = InjectLatency(1, rate=0.1)
    breaker = CircuitBreaker("api")
    retry = RetryPolicy()
    policy = resilient(
        retry=retry,
        breaker=breaker,
        hedge=hedge,
        timeout=2,
        chaos=chaos,
        fallback=lambda _exc: None,
    )
    kinds = [type(s) for s in policy.strategies]
    assert kinds == [Fallback, RetryPolicy, CircuitBreaker, Hedge, Timeout, InjectLatency]
    assert policy.strategies[3] is hedge
    assert policy.strategies[5] is chaos
    assert (
        repr(policy).index("hedge=") < repr(policy).index("timeout=") < repr(policy).index("chaos=")
    )
