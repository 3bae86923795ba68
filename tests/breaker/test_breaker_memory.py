"""A breaker is as small as the state it keeps: slots only, no instance dict."""

from __future__ import annotations

import pytest

from resilience import BreakerConfig, CircuitBreaker, Fallback, RetryPolicy, Timeout


def test_a_breaker_has_no_instance_dict() -> None:
    """Every class a breaker is made of declares __slots__, so no instance has a __dict__."""
    breaker = CircuitBreaker("db", BreakerConfig(failure_rate=0.5, window=10))
    assert not hasattr(breaker, "__dict__")
    with pytest.raises(AttributeError):
        breaker.anything = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "strategy",
    [RetryPolicy(), Timeout(1), Fallback(lambda *_: None)],
    ids=["retry", "timeout", "fallback"],
)
def test_strategies_have_no_instance_dict(strategy: object) -> None:
    """The built-in strategies are slotted too."""
    assert not hasattr(strategy, "__dict__")


def test_breakers_built_without_a_config_share_the_default() -> None:
    """A breaker made without a config takes the one frozen default, not a copy of its own."""
    assert CircuitBreaker("a").config is CircuitBreaker("b").config
