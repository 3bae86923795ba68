"""Hypothesis strategies for ``resilience``'s configurations.

Property tests of code that takes a breaker, a retry policy or a budget can draw them
from here instead of hand-picking a few, and reach configurations nobody thought of::

    from hypothesis import given
    from resilience.testing.strategies import breaker_configs

    @given(breaker_configs())
    def test_my_client_survives_any_breaker(config): ...

Every value drawn is valid (it constructs without error) and small enough for a test
to run through: counts stay below 50 and times below an hour.
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as _exc:  # pragma: no cover - the test extra installs it
    raise ImportError(
        "resilience.testing.strategies needs hypothesis: pip install hypothesis"
    ) from _exc

from resilience._breaker.config import BreakerConfig
from resilience._retry.backoff import Backoff
from resilience._retry.budget import RetryBudget
from resilience._retry.policy import RetryPolicy

__all__ = ["backoffs", "breaker_configs", "retry_budgets", "retry_policies"]

_SECONDS = st.floats(min_value=0.001, max_value=3600, allow_nan=False, allow_infinity=False)
_RATES = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)


@st.composite
def breaker_configs(draw: st.DrawFn) -> BreakerConfig:
    """Any valid :class:`BreakerConfig`: either trip rule or both, either window kind."""
    threshold = draw(st.none() | st.integers(1, 50))
    rate = draw(st.none() | _RATES)
    slow_rate = draw(st.none() | _RATES)
    if threshold is None and rate is None and slow_rate is None:
        threshold = draw(st.integers(1, 50))  # something must open the circuit
    open_for = draw(_SECONDS)
    kwargs: dict[str, Any] = {
        "failure_threshold": threshold,
        "failure_rate": rate,
        "slow_call_rate": slow_rate,
        "slow_call_duration": None if slow_rate is None else draw(_SECONDS),
        "open_for": open_for,
        "open_for_max": draw(st.none() | st.floats(1, 100).map(lambda k: open_for * k)),
        "half_open_max_calls": draw(st.integers(1, 10)),
        "success_threshold": draw(st.integers(1, 10)),
        "half_open_timeout": draw(st.none() | _SECONDS),
        "count_permanent": draw(st.booleans()),
    }
    if rate is not None or slow_rate is not None:
        window = draw(st.sampled_from(["calls", "seconds", "default"]))
        most = 50  # a count window must be able to hold minimum_calls outcomes
        if window == "calls":
            kwargs["window"] = draw(st.integers(1, 200))
            most = min(most, kwargs["window"])
        elif window == "seconds":
            kwargs["window_seconds"] = draw(st.floats(0.1, 600))
        kwargs["minimum_calls"] = draw(st.none() | st.integers(1, most))
        if kwargs["minimum_calls"] is None:
            del kwargs["minimum_calls"]  # the default, which follows the window
    return BreakerConfig(**kwargs)


def backoffs() -> st.SearchStrategy[Backoff]:
    """Any valid :class:`Backoff`."""
    return st.builds(
        Backoff,
        initial=st.floats(0, 10, allow_nan=False),
        multiplier=st.floats(1, 10, allow_nan=False),
        max=st.floats(0, 600, allow_nan=False),
        jitter=st.sampled_from(["full", "equal", "none"]),
    )


def retry_budgets() -> st.SearchStrategy[RetryBudget]:
    """Any valid :class:`RetryBudget`, on the system clock.

    A test that moves time draws the arguments instead and passes its own clock.
    """
    return st.builds(
        RetryBudget,
        ratio=st.floats(0, 1, allow_nan=False),
        min_per_second=st.floats(0, 100, allow_nan=False),
        window=st.floats(0.1, 600, allow_nan=False),
    )


def retry_policies(*, budgets: bool = False) -> st.SearchStrategy[RetryPolicy]:
    """Any valid :class:`RetryPolicy`: attempts, backoff, deadline, Retry-After cap.

    With ``budgets``, each policy has a :func:`retry_budgets` budget too.
    """
    return st.builds(
        RetryPolicy,
        attempts=st.integers(1, 10),
        backoff=backoffs(),
        deadline=st.none() | _SECONDS,
        respect_retry_after=st.booleans(),
        max_retry_after=st.floats(0, 600, allow_nan=False),
        budget=retry_budgets() if budgets else st.none(),
    )
