"""Hedge: a slow attempt gets a hedge, the first success wins, the losers are cancelled."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import ValidationError

from resilience import (
    CircuitBreaker,
    Hedge,
    HedgeStarted,
    HedgeWon,
    Measurement,
    Pipeline,
    RetryPolicy,
    Timeout,
    resilient,
)
from resilience.testing import FakeClock


class Attempts:
    """A call whose attempts each wait for the test to answer, fail or leave them hanging."""

    def __init__(self) -> None:
        self.gates: list[asyncio.Future[object]] = []
        self.cancelled: list[int] = []
        self.finished: list[int] = []

    async def __call__(self, key: str) -> object:
        number = len(self.gates) + 1
        gate: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        try:
            return await gate
        except asyncio.CancelledError:
            self.cancelled.append(number)
            raise
        finally:
            self.finished.append(number)

    def answer(self, number: int, value: object) -> None:
        self.gates[number - 1].set_result(value)

    def fail(self, number: int, error: BaseException) -> None:
        self.gates[number - 1].set_exception(error)


async def until(condition: object, steps: int = 50) -> None:
    """Let the loop run until ``condition()`` holds (bounded, no real time)."""
    for _ in range(steps):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def totals(hedge: Hedge) -> dict[str, float]:
    (measurement,) = hedge.measurements()
    return dict(measurement.totals)


async def test_an_answer_before_the_delay_starts_no_hedge(fake_clock: FakeClock) -> None:
    """A call that answers at once runs once, and is counted as a call without hedges."""
    hedge = Hedge(delay=1.0, clock=fake_clock)
    runs: list[int] = []

    @hedge
    async def fetch(x: int) -> int:
        runs.append(x)
        return x * 2

    assert await fetch(21) == 42
    assert runs == [21]
    assert totals(hedge) == {"calls": 1, "hedges": 0, "hedge_wins": 0, "cancelled": 0}


async def test_a_slow_first_attempt_is_hedged_and_cancelled_when_the_hedge_wins(
    fake_clock: FakeClock,
) -> None:
    """After the delay a second attempt starts; its answer wins and the first is cancelled."""
    seen: list[object] = []
    hedge = Hedge(delay=0.05, clock=fake_clock, on_hedge=seen.append, name="search")
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 2)
    assert fake_clock.monotonic() == pytest.approx(0.05)  # the delay, on the injected clock
    attempts.answer(2, "from the hedge")
    assert await call == "from the hedge"
    assert attempts.cancelled == [1]
    assert attempts.finished == [2, 1]  # the loser was awaited before the call returned
    assert totals(hedge) == {"calls": 1, "hedges": 1, "hedge_wins": 1, "cancelled": 1}
    assert [type(e) for e in seen] == [HedgeStarted, HedgeWon]
    started, won = seen
    assert isinstance(started, HedgeStarted)
    assert started.attempt == 2
    assert isinstance(won, HedgeWon)
    assert (won.attempt, won.cancelled) == (2, 1)
    assert won.fields()["event"] == "hedge.won"
    assert "search" in started.describe()


async def test_up_to_max_hedges_start_one_delay_apart(fake_clock: FakeClock) -> None:
    """With max_hedges=2 a third attempt starts a delay after the second, and no fourth."""
    seen: list[object] = []
    hedge = Hedge(
        delay=timedelta(milliseconds=10), max_hedges=2, clock=fake_clock, on_hedge=seen.append
    )
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 3)
    for _ in range(20):  # the timer is spent: no fourth attempt, however long it runs
        await asyncio.sleep(0)
    assert len(attempts.gates) == 3
    assert fake_clock.monotonic() == pytest.approx(0.02)
    attempts.answer(3, "third")
    assert await call == "third"
    assert sorted(attempts.cancelled) == [1, 2]
    assert totals(hedge) == {"calls": 1, "hedges": 2, "hedge_wins": 1, "cancelled": 2}
    started = [e for e in seen if isinstance(e, HedgeStarted)]
    assert [(e.attempt, e.after) for e in started] == [(2, 0.01), (3, 0.02)]


async def test_the_first_attempt_can_still_win_and_the_hedge_is_cancelled(
    fake_clock: FakeClock,
) -> None:
    """When the first attempt answers after a hedge started, the hedge is cancelled and awaited."""
    hedge = Hedge(delay=0.05, clock=fake_clock)
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 2)
    attempts.answer(1, "first")
    assert await call == "first"
    assert attempts.cancelled == [2]
    assert attempts.finished == [1, 2]
    assert totals(hedge) == {"calls": 1, "hedges": 1, "hedge_wins": 0, "cancelled": 1}


async def test_a_failure_while_a_hedge_runs_waits_for_the_hedge(fake_clock: FakeClock) -> None:
    """The first attempt failing does not end the call while a hedge may still succeed."""
    hedge = Hedge(delay=0.05, clock=fake_clock)
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 2)
    attempts.fail(1, ConnectionResetError("reset"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not call.done()
    attempts.answer(2, "rescued")
    assert await call == "rescued"
    assert totals(hedge)["hedge_wins"] == 1


async def test_when_every_attempt_fails_the_last_failure_is_raised(fake_clock: FakeClock) -> None:
    """Every attempt failed: the call raises the failure that came last."""
    hedge = Hedge(delay=0.05, clock=fake_clock)
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 2)
    attempts.fail(2, TimeoutError("hedge timed out"))
    await asyncio.sleep(0)
    attempts.fail(1, ConnectionResetError("first reset"))
    with pytest.raises(ConnectionResetError, match="first reset"):
        await call
    assert totals(hedge) == {"calls": 1, "hedges": 1, "hedge_wins": 0, "cancelled": 0}


async def test_a_failure_with_nothing_else_running_is_raised_at_once(
    fake_clock: FakeClock,
) -> None:
    """A hedge starts because an attempt is slow, never because one failed."""
    hedge = Hedge(delay=5.0, clock=fake_clock)
    runs: list[int] = []

    @hedge
    async def fetch() -> None:
        runs.append(1)
        raise ConnectionRefusedError("down")

    with pytest.raises(ConnectionRefusedError):
        await fetch()
    for _ in range(5):
        await asyncio.sleep(0)
    assert runs == [1]
    assert totals(hedge)["hedges"] == 0


async def test_cancelling_the_caller_cancels_every_attempt(fake_clock: FakeClock) -> None:
    """A cancellation from outside reaches the caller, and both attempts are cancelled."""
    hedge = Hedge(delay=0.05, clock=fake_clock)
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert sorted(attempts.cancelled) == [1, 2]
    assert hedge.idle


async def test_in_a_pipeline_the_breaker_sees_one_outcome_per_hedged_call(
    fake_clock: FakeClock,
) -> None:
    """Retry and breaker outside the hedge count each hedged call once, however many ran."""
    breaker = CircuitBreaker("search", clock=fake_clock)
    hedge = Hedge(delay=0.0, clock=fake_clock)
    policy = resilient(
        retry=RetryPolicy(attempts=2, clock=fake_clock), breaker=breaker, hedge=hedge
    )
    runs: list[int] = []

    async def fetch() -> None:
        runs.append(1)
        if len(runs) % 2:  # each call's first attempt fails late, its hedge at once
            for _ in range(3):
                await asyncio.sleep(0)
        raise ConnectionResetError("reset")

    with pytest.raises(ConnectionResetError):
        await policy.acall(fetch)
    assert len(runs) == 4  # two calls (the retry's), two attempts each
    assert breaker.snapshot().consecutive_failures == 2
    assert totals(hedge) == {"calls": 2, "hedges": 2, "hedge_wins": 0, "cancelled": 0}
    assert "hedge=Hedge(" in repr(policy)


def test_a_sync_function_is_a_type_error_saying_why() -> None:
    """Decorating or calling a sync function through a hedge is refused, with the reason."""
    hedge = Hedge(delay=0.1)

    def fetch() -> int:
        return 1

    why = re.compile("cannot hedge the sync function .*fetch.*only coroutines allow")
    with pytest.raises(TypeError, match=why):
        hedge(fetch)
    with pytest.raises(TypeError, match=why):
        hedge.call(fetch)
    with pytest.raises(TypeError, match=why):
        Pipeline(RetryPolicy(), hedge)(fetch)
    with pytest.raises(TypeError, match=why):
        resilient(hedge=hedge)(fetch)
    with pytest.raises(TypeError, match="cannot guard a with block"), hedge:
        pass


def test_an_async_generator_function_is_refused_saying_why() -> None:
    """A generator's items come over many calls: a hedge cannot race them."""

    async def items() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match="cannot hedge the async generator function"):
        Hedge(delay=0.1)(items)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"delay": -1}, "delay"),
        ({"delay": "soon"}, "delay"),
        ({"delay": 0.1, "max_hedges": 0}, "max_hedges"),
        ({"delay": 0.1, "max_hedges": 17}, "max_hedges"),
        ({"delay": 0.1, "percentile": 100}, "percentile"),
        ({"delay": 0.1, "percentile": 0}, "percentile"),
        ({"delay": 0.1, "percentile": 90, "window": 5}, "window"),
        ({"delay": 0.1, "percentile": 90, "window": 50, "min_samples": 60}, "min_samples"),
        ({"delay": 0.1, "name": ""}, "name"),
    ],
)
def test_bad_configuration_names_the_field(kwargs: dict[str, object], field: str) -> None:
    """Each invalid setting is refused at construction with the field named."""
    with pytest.raises(ValidationError, match=field):
        Hedge(**kwargs)  # type: ignore[arg-type]


def test_bad_hooks_and_strategies_are_type_errors() -> None:
    """A non-callable on_hedge, and a non-Hedge given to resilient(hedge=), are refused."""
    with pytest.raises(TypeError, match="on_hedge"):
        Hedge(delay=0.1, on_hedge=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a Hedge"):
        resilient(hedge=Timeout(1))  # type: ignore[arg-type]


async def test_the_percentile_delay_follows_measured_latencies(fake_clock: FakeClock) -> None:
    """With percentile=90 the delay becomes the 90th percentile of the calls' latencies."""
    hedge = Hedge(delay=1.0, percentile=90, window=10, min_samples=10, clock=fake_clock)
    latencies = iter([0.01 * (i + 1) for i in range(10)])

    @hedge
    async def fetch() -> None:
        fake_clock.advance(next(latencies))  # the call's own duration, no other task runs

    assert hedge.delay == 1.0  # the initial delay until min_samples are measured
    for _ in range(10):
        await fetch()
    assert hedge.delay == pytest.approx(0.09)
    (measurement,) = hedge.measurements()
    assert isinstance(measurement, Measurement)
    assert measurement.kind == "hedge"
    assert measurement.gauges["delay_seconds"] == pytest.approx(0.09)
    assert "p90" in measurement.state


def test_repr_shows_the_configuration() -> None:
    """repr names the delay, max_hedges, percentile and name."""
    hedge = Hedge(delay=0.05, max_hedges=2, percentile=95, name="search")
    assert repr(hedge) == "Hedge(delay=0.05, max_hedges=2, percentile=95, name='search')"
    assert hedge.name == "search"
    assert hedge.max_hedges == 2


async def test_a_losing_first_attempt_is_measured_as_slow(fake_clock: FakeClock) -> None:
    """With a percentile, a first attempt cancelled for its hedge counts among the slow ones."""
    hedge = Hedge(delay=0.5, percentile=50, window=10, min_samples=2, clock=fake_clock)
    attempts = Attempts()
    call = asyncio.ensure_future(hedge.acall(attempts, "k"))
    await until(lambda: len(attempts.gates) == 2)
    fake_clock.advance(0.25)  # the hedge answers 0.25 s after it started, 0.75 s into the call
    attempts.answer(2, "hedged")
    assert await call == "hedged"
    assert hedge.delay == pytest.approx(0.25)  # median of 0.25 (the hedge) and 0.75 (the loser)


async def test_a_hedge_that_cannot_start_is_one_failed_attempt(fake_clock: FakeClock) -> None:
    """A call whose second start raises at once: the first attempt still decides the call."""
    hedge = Hedge(delay=0.05, clock=fake_clock)
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    starts: list[int] = []

    def start() -> asyncio.Future[str]:  # not a coroutine function: any awaitable will do
        starts.append(1)
        if len(starts) == 2:
            raise OSError("no file descriptors left")
        return gate

    call = asyncio.ensure_future(hedge.acall(start))
    await until(lambda: len(starts) == 2)
    gate.set_result("first")
    assert await call == "first"


async def test_calls_answered_in_time_do_not_pile_up_in_the_shared_timer() -> None:
    """On the loop's timer, a thousand quick calls leave at most one entry queued."""
    hedge = Hedge(delay=60)

    @hedge
    async def quick(x: int) -> int:
        return x

    for i in range(1000):
        assert await quick(i) == i
    sweep = hedge._sweep  # noqa: SLF001 - the loop's shared timer has no public reading
    assert sweep is not None
    assert len(sweep.queue) <= 1
    assert totals(hedge)["hedges"] == 0
