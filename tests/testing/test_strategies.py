"""resilience.testing.strategies: every value is valid, and every kind is reachable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, find, given, settings

from resilience import BreakerConfig, CircuitBreaker, RetryBudget, RetryPolicy
from resilience.testing import FakeClock, set_testing
from resilience.testing.strategies import (
    backoffs,
    breaker_configs,
    retry_budgets,
    retry_policies,
)


@given(breaker_configs())
def test_every_breaker_config_makes_a_working_breaker(config: BreakerConfig) -> None:
    """Every generated breaker config makes a breaker that lets a call through."""
    breaker = CircuitBreaker("api", config, clock=FakeClock())
    assert breaker.call(lambda: "ok") == "ok"


@pytest.mark.slow
def test_every_kind_of_breaker_config_is_reachable() -> None:
    """The breaker config strategy reaches every kind of config."""
    kinds: list[Callable[[BreakerConfig], bool]] = [
        lambda c: c.failure_rate is None and c.slow_call_rate is None,
        lambda c: c.failure_threshold is None and c.failure_rate is not None,
        lambda c: c.failure_threshold is not None and c.failure_rate is not None,
        lambda c: c.slow_call_rate is not None,
        lambda c: c.window is not None,
        lambda c: c.window_seconds is not None,
        lambda c: c.open_for_max is not None,
        lambda c: c.half_open_timeout is not None,
    ]
    # Found is enough: shrinking each find to a minimal config took seconds and proved
    # nothing more.
    found = settings(max_examples=2000, phases=[Phase.generate], database=None)
    for kind in kinds:
        assert kind(find(breaker_configs(), kind, settings=found))


@given(retry_policies(budgets=True))
def test_every_retry_policy_retries_a_flaky_call(policy: RetryPolicy) -> None:
    """Every generated policy retries a call that failed once, or gives up; never a wrong answer."""
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("reset")
        return "ok"

    with set_testing():  # zero waits, whatever the backoff says
        try:
            assert policy.call(flaky) == "ok"
        except ConnectionResetError:
            # One attempt, a spent budget or a deadline may stop it; never a wrong answer.
            assert calls == 1


@given(backoffs())
def test_every_backoff_gives_bounded_delays(backoff: object) -> None:
    """Every generated backoff gives delays between zero and its max."""
    from resilience import Backoff  # noqa: PLC0415

    assert isinstance(backoff, Backoff)
    assert all(0 <= backoff.delay(n) <= max(backoff.max, 0) for n in range(1, 20))


@given(retry_budgets())
def test_every_budget_allows_its_floor(budget: RetryBudget) -> None:
    """Every generated budget allows its floor of retries before any call."""
    snapshot = budget.snapshot()
    assert snapshot.allowed == budget.config.min_per_second * budget.config.window
