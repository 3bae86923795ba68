"""The call shells: nesting one breaker, async functions given to call(), generators."""

from __future__ import annotations

import asyncio
import inspect
import textwrap
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Generator, Iterator
from pathlib import Path

import pytest
from mypy import api as mypy_api

from resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
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


def test_a_decorated_function_called_through_its_breakers_call_counts_one_failure(
    fake_clock: FakeClock,
) -> None:
    """breaker.call(breaker(fn)) takes one permit and records one failure, not two."""
    breaker = make(fake_clock, failure_threshold=2)
    decorated = breaker(refuse)
    with pytest.raises(ConnectionError):
        breaker.call(decorated)
    assert breaker.snapshot().consecutive_failures == 1
    assert breaker.state is CLOSED


def test_a_windowed_breaker_counts_one_outcome_for_a_nested_call(fake_clock: FakeClock) -> None:
    """On the slow path too (a window), call() of a decorated function records one outcome."""
    breaker = make(fake_clock, failure_rate=0.5, window=10, minimum_calls=10)
    with pytest.raises(ConnectionError):
        breaker.call(breaker(refuse))
    assert breaker.call(breaker(answer)) == "ok"
    snapshot = breaker.snapshot()
    assert (snapshot.calls, snapshot.failures) == (2, 1)


def test_a_half_open_trial_through_call_of_a_decorated_function_closes_the_circuit(
    fake_clock: FakeClock,
) -> None:
    """With one trial permit, call() of a decorated function is that trial, and closes."""
    breaker = half_open(fake_clock)
    assert breaker.call(breaker(answer)) == "ok"
    assert breaker.state is CLOSED


def test_a_with_block_around_a_decorated_call_takes_one_permit(fake_clock: FakeClock) -> None:
    """`with breaker:` around a call of a function it decorates is one trial call."""
    breaker = half_open(fake_clock)
    decorated = breaker(answer)
    with breaker:
        assert decorated() == "ok"
        assert breaker.call(decorated) == "ok"
    assert breaker.state is CLOSED


def test_a_resilient_wrapper_through_its_breakers_call_counts_one_failure(
    fake_clock: FakeClock,
) -> None:
    """resilient(breaker=b) wrappers called through b.call() are counted once."""
    breaker = make(fake_clock, failure_threshold=2)
    with pytest.raises(ConnectionError):
        breaker.call(resilient(breaker=breaker)(refuse))
    assert breaker.snapshot().consecutive_failures == 1


async def test_an_async_decorated_function_through_acall_counts_one_failure(
    fake_clock: FakeClock,
) -> None:
    """breaker.acall(breaker(async_fn)) records one failure."""
    breaker = make(fake_clock, failure_threshold=2)
    with pytest.raises(ConnectionError):
        await breaker.acall(breaker(arefuse))
    assert breaker.snapshot().consecutive_failures == 1


async def test_an_async_with_block_around_a_decorated_call_takes_one_permit(
    fake_clock: FakeClock,
) -> None:
    """`async with breaker:` around an awaited decorated call is one trial call."""
    breaker = half_open(fake_clock)
    async with breaker:
        assert await breaker(aanswer)() == "ok"
    assert breaker.state is CLOSED


# ------------------------------------------------------- async functions given to call()


def test_breaker_call_refuses_an_async_function_and_names_acall(fake_clock: FakeClock) -> None:
    """call() of a coroutine function raises TypeError naming acall, and records nothing."""
    breaker = make(fake_clock, failure_threshold=1)
    with pytest.raises(TypeError, match=r"acall"):
        breaker.call(aanswer)
    with pytest.raises(TypeError, match=r"returned coroutine"):
        breaker.call(later)
    assert breaker.snapshot().consecutive_failures == 0


def test_an_async_function_given_to_call_is_not_a_half_open_trial_success(
    fake_clock: FakeClock,
) -> None:
    """In HALF_OPEN, an awaitable result does not close the circuit and gives its permit back."""
    breaker = half_open(fake_clock)
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


def test_resilient_call_refuses_an_async_function_and_skips_the_fallback(
    fake_clock: FakeClock,
) -> None:
    """resilient().call() of a coroutine function raises TypeError, never the fallback."""
    breaker = make(fake_clock, failure_threshold=1)
    policy = resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock),
        breaker=breaker,
        fallback=lambda _exc: "fallback",
    )
    with pytest.raises(TypeError, match="acall"):
        policy.call(aanswer)
    with pytest.raises(TypeError, match="acall"):
        resilient(fallback=lambda _exc: "fallback").call(aanswer)
    assert breaker.state is CLOSED


@pytest.mark.slow
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


# ---------------------------------------------------------------- generator functions


class Feed:
    """A generator function that fails ``early`` times before its first item, then yields."""

    def __init__(self, *, early: int = 0, late: bool = False) -> None:
        self.early = early
        self.late = late
        self.started = 0

    def __call__(self, count: int) -> Generator[int, None, None]:
        self.started += 1
        if self.started <= self.early:
            raise ConnectionError("before the first item")
        yield from range(count)
        if self.late:
            raise ConnectionError("after the items")


def test_decorated_generator_functions_stay_generator_functions(fake_clock: FakeClock) -> None:
    """Every decorator keeps a sync or async generator function one."""

    def numbers() -> Iterator[int]:
        yield 1

    async def anumbers() -> AsyncIterator[int]:
        yield 1

    registry = BreakerRegistry(clock=fake_clock)
    for decorate in (
        make(fake_clock),
        RetryPolicy(clock=fake_clock),
        resilient(retry=RetryPolicy(clock=fake_clock), breaker=make(fake_clock)),
        registry.protect("feed"),
    ):
        assert inspect.isgeneratorfunction(decorate(numbers))
        assert inspect.isasyncgenfunction(decorate(anumbers))


def test_an_exception_while_iterating_counts_as_a_breaker_failure(fake_clock: FakeClock) -> None:
    """A generator that raises mid-iteration is a failure: the breaker opens."""
    breaker = make(fake_clock, failure_threshold=1)
    feed = breaker(Feed(late=True).__call__)
    with pytest.raises(ConnectionError, match="after the items"):
        list(feed(2))
    assert breaker.state is OPEN


def test_exhaustion_and_close_are_breaker_successes(fake_clock: FakeClock) -> None:
    """A trial generator run to its end, or closed early, closes the circuit."""
    breaker = half_open(fake_clock)
    assert list(breaker(Feed().__call__)(3)) == [0, 1, 2]
    assert breaker.state is CLOSED

    breaker = half_open(fake_clock)
    numbers = breaker(Feed().__call__)(3)
    assert next(numbers) == 0
    numbers.close()
    assert breaker.state is CLOSED


def test_the_permit_is_held_while_the_generator_is_iterated(fake_clock: FakeClock) -> None:
    """While a trial generator is suspended, its permit is taken: other calls are rejected."""
    breaker = half_open(fake_clock)
    numbers = breaker(Feed().__call__)(2)
    assert next(numbers) == 0
    with pytest.raises(CircuitOpenError):
        breaker.call(answer)
    assert list(numbers) == [1]
    assert breaker.state is CLOSED


def test_send_and_throw_reach_the_decorated_generator(fake_clock: FakeClock) -> None:
    """send() and throw() pass through the wrapper to the generator itself."""

    def echo() -> Generator[str, str, str]:
        received = "start"
        while received != "stop":
            try:
                received = yield f"got {received}"
            except KeyError as exc:
                received = f"caught {exc.args[0]}"
        return "done"

    for decorate in (
        make(fake_clock),
        RetryPolicy(clock=fake_clock),
        resilient(breaker=make(fake_clock)),
    ):
        gen = decorate(echo)()
        assert next(gen) == "got start"
        assert gen.send("a") == "got a"
        assert gen.throw(KeyError("k")) == "got caught k"
        with pytest.raises(StopIteration) as stop:
            gen.send("stop")
        assert stop.value.value == "done"


def test_a_retry_reruns_a_generator_that_fails_before_its_first_item(fake_clock: FakeClock) -> None:
    """A generator failing before it yields is run again, as a failed call would be."""
    feed = Feed(early=2)
    numbers = RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock)(feed.__call__)
    assert list(numbers(2)) == [0, 1]
    assert feed.started == 3


def test_a_retry_does_not_rerun_a_generator_after_its_first_item(fake_clock: FakeClock) -> None:
    """A generator failing after an item propagates: its consumer saw items already."""
    feed = Feed(late=True)
    numbers = RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock)(feed.__call__)
    seen: list[int] = []
    with pytest.raises(ConnectionError, match="after the items"):
        seen.extend(numbers(2))
    assert seen == [0, 1]
    assert feed.started == 1


def test_resilient_generator_retries_through_the_breaker_then_falls_back(
    fake_clock: FakeClock,
) -> None:
    """Each attempt before the first item is counted; the fallback's items stand in."""
    breaker = make(fake_clock, failure_threshold=5)
    feed = Feed(early=5)
    policy = resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock),
        breaker=breaker,
        fallback=lambda _exc, count: iter([-1] * count),
    )
    assert list(policy(feed.__call__)(2)) == [-1, -1]
    assert feed.started == 3
    assert breaker.snapshot().consecutive_failures == 3


def test_registry_protect_records_a_generators_outcome_on_its_remote(fake_clock: FakeClock) -> None:
    """registry.protect on a generator counts a mid-iteration failure against the remote."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)

    @registry.protect(lambda remote, _count: remote)
    def rows(remote: str, count: int) -> Iterator[int]:
        yield from range(count)
        raise ConnectionError(remote)

    with pytest.raises(ConnectionError):
        list(rows("db-1", 2))
    assert registry.get("db-1").state is OPEN


def test_resilient_timeout_on_a_generator_function_is_refused() -> None:
    """A timeout cannot bound a generator's iteration: decorating one says so."""

    def numbers() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="cannot bound the iteration"):
        resilient(timeout=5)(numbers)


class AFeed:
    """The async Feed."""

    def __init__(self, *, early: int = 0, late: bool = False) -> None:
        self.early = early
        self.late = late
        self.started = 0

    async def __call__(self, count: int) -> AsyncIterator[int]:
        self.started += 1
        if self.started <= self.early:
            raise ConnectionError("before the first item")
        for n in range(count):
            yield n
            await asyncio.sleep(0)
        if self.late:
            raise ConnectionError("after the items")


async def test_an_async_generator_failure_while_iterating_opens_the_breaker(
    fake_clock: FakeClock,
) -> None:
    """An async generator raising mid-iteration is a failure; exhaustion is a success."""
    breaker = half_open(fake_clock)
    assert [n async for n in breaker(AFeed().__call__)(2)] == [0, 1]
    assert breaker.state is CLOSED
    breaker = make(fake_clock, failure_threshold=1)
    with pytest.raises(ConnectionError, match="after the items"):
        [n async for n in breaker(AFeed(late=True).__call__)(2)]
    assert breaker.state is OPEN


async def test_an_async_generator_holds_its_permit_and_passes_asend_and_athrow(
    fake_clock: FakeClock,
) -> None:
    """While suspended it holds the trial permit; asend() and athrow() reach it."""
    breaker = half_open(fake_clock)

    @breaker
    async def echo() -> AsyncGenerator[str, str]:
        received = "start"
        while True:
            try:
                received = yield f"got {received}"
            except KeyError as exc:
                received = f"caught {exc.args[0]}"

    gen = echo()
    assert await gen.__anext__() == "got start"
    with pytest.raises(CircuitOpenError):
        await breaker.acall(aanswer)
    assert await gen.asend("a") == "got a"
    assert await gen.athrow(KeyError("k")) == "got caught k"
    await gen.aclose()
    assert breaker.state is CLOSED


async def test_an_async_generator_is_retried_only_before_its_first_item(
    fake_clock: FakeClock,
) -> None:
    """The retry re-runs an async generator that failed early, never one that yielded."""
    policy = RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock)
    early = AFeed(early=2)
    assert [n async for n in policy(early.__call__)(2)] == [0, 1]
    assert early.started == 3
    late = AFeed(late=True)
    with pytest.raises(ConnectionError):
        [n async for n in policy(late.__call__)(2)]
    assert late.started == 1


async def test_an_async_resilient_generator_falls_back_and_protect_counts_failures(
    fake_clock: FakeClock,
) -> None:
    """resilient() and registry.protect() on async generators: fallback, and counting."""

    async def cached(_exc: BaseException, count: int) -> list[int]:
        return [-1] * count

    policy = resilient(
        retry=RetryPolicy(attempts=2, backoff=NO_WAIT, clock=fake_clock),
        breaker=make(fake_clock),
        fallback=cached,
    )
    assert [n async for n in policy(AFeed(early=9).__call__)(2)] == [-1, -1]

    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)
    rows = registry.protect("db")(AFeed(late=True).__call__)
    with pytest.raises(ConnectionError):
        [n async for n in rows(1)]
    assert registry.get("db").state is OPEN
