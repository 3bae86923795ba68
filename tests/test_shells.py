"""The call shells: nesting one breaker, async functions given to call(), generators."""

from __future__ import annotations

import textwrap
from collections.abc import Coroutine
from pathlib import Path

import pytest
from mypy import api as mypy_api

from resilience import (
    Backoff,
    BreakerConfig,
    CircuitBreaker,
    CircuitState,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock

NO_WAIT = Backoff(initial=0, jitter="none")
CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def make(clock: FakeClock, **config: object) -> CircuitBreaker:
    return CircuitBreaker("db", BreakerConfig.model_validate(config), clock=clock)


def half_open(clock: FakeClock, **config: object) -> CircuitBreaker:
    """A breaker that failed once and waited out its open period: one trial permit."""
    breaker = make(clock, failure_threshold=1, open_for=10, **config)
    with pytest.raises(ConnectionError):
        breaker.call(refuse)
    clock.advance(10)
    return breaker


def refuse() -> str:
    raise ConnectionError("refused")


def answer() -> str:
    return "ok"


async def aanswer() -> str:
    return "ok"


def later() -> Coroutine[None, None, str]:
    """A sync function that returns a coroutine, as a lambda or a partial can."""
    return aanswer()


async def arefuse() -> str:
    raise ConnectionError("refused")


# ------------------------------------------------------------ nesting the same breaker


def test_a_decorated_function_called_through_its_breakers_call_counts_one_failure() -> None:
    """breaker.call(breaker(fn)) takes one permit and records one failure, not two."""
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2)
    decorated = breaker(refuse)
    with pytest.raises(ConnectionError):
        breaker.call(decorated)
    assert breaker.snapshot().consecutive_failures == 1
    assert breaker.state is CLOSED


def test_a_windowed_breaker_counts_one_outcome_for_a_nested_call() -> None:
    """On the slow path too (a window), call() of a decorated function records one outcome."""
    clock = FakeClock()
    breaker = make(clock, failure_rate=0.5, window=10, minimum_calls=10)
    with pytest.raises(ConnectionError):
        breaker.call(breaker(refuse))
    assert breaker.call(breaker(answer)) == "ok"
    snapshot = breaker.snapshot()
    assert (snapshot.calls, snapshot.failures) == (2, 1)


def test_a_half_open_trial_through_call_of_a_decorated_function_closes_the_circuit() -> None:
    """With one trial permit, call() of a decorated function is that trial, and closes."""
    clock = FakeClock()
    breaker = half_open(clock)
    assert breaker.call(breaker(answer)) == "ok"
    assert breaker.state is CLOSED


def test_a_with_block_around_a_decorated_call_takes_one_permit() -> None:
    """`with breaker:` around a call of a function it decorates is one trial call."""
    clock = FakeClock()
    breaker = half_open(clock)
    decorated = breaker(answer)
    with breaker:
        assert decorated() == "ok"
        assert breaker.call(answer) == "ok"
    assert breaker.state is CLOSED


def test_a_resilient_wrapper_through_its_breakers_call_counts_one_failure() -> None:
    """resilient(breaker=b) wrappers called through b.call() are counted once."""
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2)
    with pytest.raises(ConnectionError):
        breaker.call(resilient(breaker=breaker)(refuse))
    assert breaker.snapshot().consecutive_failures == 1


async def test_an_async_decorated_function_through_acall_counts_one_failure() -> None:
    """breaker.acall(breaker(async_fn)) records one failure."""
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2)
    with pytest.raises(ConnectionError):
        await breaker.acall(breaker(arefuse))
    assert breaker.snapshot().consecutive_failures == 1


async def test_an_async_with_block_around_a_decorated_call_takes_one_permit() -> None:
    """`async with breaker:` around an awaited decorated call is one trial call."""
    clock = FakeClock()
    breaker = half_open(clock)
    async with breaker:
        assert await breaker(aanswer)() == "ok"
    assert breaker.state is CLOSED


# ------------------------------------------------------- async functions given to call()


def test_breaker_call_refuses_an_async_function_and_names_acall() -> None:
    """call() of a coroutine function raises TypeError naming acall, and records nothing."""
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1)
    with pytest.raises(TypeError, match=r"acall"):
        breaker.call(aanswer)
    with pytest.raises(TypeError, match=r"returned coroutine"):
        breaker.call(later)
    assert breaker.snapshot().consecutive_failures == 0


def test_an_async_function_given_to_call_is_not_a_half_open_trial_success() -> None:
    """In HALF_OPEN, an awaitable result does not close the circuit and gives its permit back."""
    clock = FakeClock()
    breaker = half_open(clock)
    with pytest.raises(TypeError, match="acall"):
        breaker.call(aanswer)
    assert breaker.state is HALF_OPEN
    assert breaker.call(answer) == "ok"  # the permit came back: a real trial runs
    assert breaker.state is CLOSED


def test_retry_call_refuses_an_async_function_without_retrying() -> None:
    """RetryPolicy.call() of a coroutine function raises TypeError at once, never retried."""
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with pytest.raises(TypeError, match="acall"):
        RetryPolicy(attempts=3, backoff=NO_WAIT).call(fetch)
    assert calls == 0  # the coroutine was closed before it ran, and not made again


def test_resilient_call_refuses_an_async_function_and_skips_the_fallback() -> None:
    """resilient().call() of a coroutine function raises TypeError, never the fallback."""
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1)
    policy = resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=clock),
        breaker=breaker,
        fallback=lambda _exc: "fallback",
    )
    with pytest.raises(TypeError, match="acall"):
        policy.call(aanswer)
    with pytest.raises(TypeError, match="acall"):
        resilient(fallback=lambda _exc: "fallback").call(aanswer)
    assert breaker.state is CLOSED


def test_mypy_rejects_an_async_function_given_to_call(tmp_path: Path) -> None:
    """mypy reports call() of a coroutine function as an error that names acall()."""
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from resilience import CircuitBreaker, RetryPolicy, resilient

            async def fetch(key: str) -> str:
                return key

            def get(key: str) -> str:
                return key

            breaker = CircuitBreaker("db")

            def one() -> None:
                breaker.call(fetch, "k")

            def two() -> None:
                RetryPolicy().call(fetch, "k")

            def three() -> None:
                resilient(breaker=breaker).call(fetch, "k")

            reveal_type(breaker.call(get, "k"))
            """
        )
    )
    out, _err, status = mypy_api.run(
        [
            "--strict",
            "--enable-error-code",
            "deprecated",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(snippet),
        ]
    )
    assert status == 1, out
    errors = [line for line in out.splitlines() if "error:" in line]
    assert len(errors) == 3, out
    assert all("use acall()" in line for line in errors), out
    assert 'Revealed type is "str"' in out or 'Revealed type is "builtins.str"' in out
