"""CircuitBreaker under asyncio: decorator, ``async with``, ``acall``, cancellation, permits."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from resilience import (
    BreakerConfig,
    CallRecorded,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Event,
    Outcome,
)
from resilience.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


async def refused() -> None:
    raise ConnectionRefusedError("refused")


async def ok() -> str:
    return "ok"


def make(clock: FakeClock, **config: object) -> CircuitBreaker:
    return CircuitBreaker("db", BreakerConfig.model_validate(config), clock=clock)


async def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionRefusedError):
            await breaker.acall(refused)


async def open_then_wait(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """Trip ``breaker`` (failure_threshold=1) and let its open period pass."""
    await fail(breaker)
    assert breaker.state is OPEN
    clock.advance(breaker.config.open_for)


async def test_async_decorator_keeps_a_coroutine_function_name_doc_and_signature(
    fake_clock: FakeClock,
) -> None:
    """A decorated coroutine function stays one, with its name, docstring and signature."""
    breaker = make(fake_clock)

    async def fetch(bucket: str, *, key: str = "k") -> str:
        """Fetch an object."""
        return f"{bucket}/{key}"

    wrapped = breaker(fetch)
    assert inspect.iscoroutinefunction(wrapped)
    assert wrapped.__name__ == "fetch"
    assert wrapped.__doc__ == "Fetch an object."
    assert inspect.signature(wrapped) == inspect.signature(fetch)
    assert await wrapped("b", key="x") == "b/x"


async def test_async_decorated_failures_open_and_rejections_never_start_the_coroutine(
    fake_clock: FakeClock,
) -> None:
    """Failures of a decorated coroutine open the circuit, and a rejected call never starts it."""
    breaker = make(fake_clock, failure_threshold=2)
    started: list[int] = []

    @breaker
    async def flaky(n: int) -> None:
        started.append(n)
        raise TimeoutError(n)

    for n in range(2):
        with pytest.raises(TimeoutError):
            await flaky(n)
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError) as info:
        await flaky(2)
    assert info.value.state is OPEN
    assert started == [0, 1]


async def test_acall_passes_arguments_and_returns_the_result(fake_clock: FakeClock) -> None:
    """acall() passes positional and keyword arguments through and returns the awaited result."""
    breaker = make(fake_clock)

    async def add(a: int, b: int, *, scale: int = 1) -> int:
        await asyncio.sleep(0)
        return (a + b) * scale

    assert await breaker.acall(add, 2, 3, scale=4) == 20


async def test_async_with_records_success_and_failure(fake_clock: FakeClock) -> None:
    """An async with block records its success or failure, and a rejected block never runs."""
    breaker = make(fake_clock, failure_threshold=2)
    async with breaker:
        pass
    with pytest.raises(ConnectionError):
        async with breaker:
            raise ConnectionError("down")
    assert breaker.snapshot().consecutive_failures == 1
    async with breaker:
        pass
    assert breaker.snapshot().consecutive_failures == 0
    for _ in range(2):
        with pytest.raises(ConnectionError):
            async with breaker:
                raise ConnectionError("down")
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError):
        async with breaker:
            pytest.fail("the body of a rejected block must not run")


async def test_async_with_in_concurrent_tasks_pairs_each_exit_with_its_own_enter(
    fake_clock: FakeClock,
) -> None:
    """Concurrent tasks' async with blocks each exit with their own token, in any order."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_max_calls=2)
    await open_then_wait(breaker, fake_clock)
    first_in, release_first = asyncio.Event(), asyncio.Event()
    second_in, release_second = asyncio.Event(), asyncio.Event()

    async def trial(entered: asyncio.Event, release: asyncio.Event, *, fails: bool) -> None:
        async with breaker:
            entered.set()
            await release.wait()
            if fails:
                raise ConnectionError("still down")

    failing = asyncio.create_task(trial(first_in, release_first, fails=True))
    await first_in.wait()
    succeeding = asyncio.create_task(trial(second_in, release_second, fails=False))
    await second_in.wait()
    assert breaker.snapshot().half_open_calls == 2
    # Finish in the opposite order of entry: each task's exit must use its own token.
    release_second.set()
    await succeeding
    assert breaker.state is CLOSED
    release_first.set()
    with pytest.raises(ConnectionError):
        await failing
    assert breaker.state is CLOSED  # stale: from the half-open period that ended
    assert breaker.snapshot().consecutive_failures == 0


async def test_cancellation_mid_call_neither_counts_nor_resets_the_count(
    fake_clock: FakeClock,
) -> None:
    """A cancelled call neither counts as a failure nor resets the consecutive count."""
    breaker = make(fake_clock, failure_threshold=3)
    await fail(breaker, 2)
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Future()

    task = asyncio.create_task(breaker.acall(hangs))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.snapshot().consecutive_failures == 2
    assert breaker.state is CLOSED
    await fail(breaker)
    assert breaker.state is OPEN


async def test_cancellation_is_not_recorded_in_the_window(fake_clock: FakeClock) -> None:
    """A cancelled call stays out of the window and is reported as IGNORED."""
    events: list[Event] = []
    breaker = CircuitBreaker(
        "db",
        BreakerConfig(failure_rate=0.5, window=10, minimum_calls=1),
        clock=fake_clock,
        listeners=[events.append],
    )
    started = asyncio.Event()

    @breaker
    async def hangs() -> None:
        started.set()
        await asyncio.Future()

    task = asyncio.create_task(hangs())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.state) == (0, 0, CLOSED)
    recorded = [e for e in events if isinstance(e, CallRecorded)]
    assert [e.outcome for e in recorded] == [Outcome.IGNORED]
    assert isinstance(recorded[0].error, asyncio.CancelledError)


@pytest.mark.parametrize("form", ["acall", "decorator", "async with"])
async def test_cancelled_trial_call_is_ignored_and_gives_its_permit_back(
    form: str, fake_clock: FakeClock
) -> None:
    """A cancelled trial, in any async form, decides nothing and gives its permit back."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    await open_then_wait(breaker, fake_clock)
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Future()

    async def in_block() -> None:
        async with breaker:
            await hangs()

    if form == "acall":
        task = asyncio.create_task(breaker.acall(hangs))
    elif form == "decorator":
        task = asyncio.create_task(breaker(hangs)())
    else:
        task = asyncio.create_task(in_block())
    await started.wait()
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().half_open_calls == 1
    with pytest.raises(CircuitOpenError):
        await breaker.acall(ok)  # the one permit is taken
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is HALF_OPEN  # neither success nor failure
    assert breaker.snapshot().half_open_calls == 0
    assert await breaker.acall(ok) == "ok"  # the permit came back
    assert breaker.state is CLOSED


async def test_concurrent_tasks_in_half_open_never_exceed_half_open_max_calls(
    fake_clock: FakeClock,
) -> None:
    """Concurrent tasks in half-open never run more than half_open_max_calls trials at once."""
    limit, tasks_n = 3, 20
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_max_calls=limit)
    await open_then_wait(breaker, fake_clock)
    gate = asyncio.Event()
    all_settled = asyncio.Event()
    running = peak = settled = 0
    rejected: list[CircuitOpenError] = []

    async def trial() -> str:
        nonlocal running, peak, settled
        running += 1
        peak = max(peak, running)
        settled += 1
        if settled == tasks_n:
            all_settled.set()
        try:
            await gate.wait()
        finally:
            running -= 1
        return "up"

    async def caller() -> str | None:
        nonlocal settled
        try:
            return await breaker.acall(trial)
        except CircuitOpenError as error:
            rejected.append(error)
            settled += 1
            if settled == tasks_n:
                all_settled.set()
            return None

    tasks = [asyncio.create_task(caller()) for _ in range(tasks_n)]
    await all_settled.wait()  # every task was admitted and is waiting, or was rejected
    assert running == limit
    assert breaker.snapshot().half_open_calls == limit
    assert len(rejected) == tasks_n - limit
    assert all(e.state is HALF_OPEN and e.retry_after is None for e in rejected)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert results.count("up") == limit
    assert peak == limit
    assert breaker.state is CLOSED


async def test_success_threshold_counts_concurrent_trial_successes(fake_clock: FakeClock) -> None:
    """Concurrent trial successes add up to success_threshold."""
    breaker = make(
        fake_clock, failure_threshold=1, open_for=10, half_open_max_calls=2, success_threshold=2
    )
    await open_then_wait(breaker, fake_clock)
    gates = [asyncio.Event(), asyncio.Event()]
    entered = [asyncio.Event(), asyncio.Event()]

    async def trial(i: int) -> int:
        entered[i].set()
        await gates[i].wait()
        return i

    tasks = [asyncio.create_task(breaker.acall(trial, i)) for i in range(2)]
    for e in entered:
        await e.wait()
    gates[0].set()
    assert await tasks[0] == 0
    assert breaker.state is HALF_OPEN
    gates[1].set()
    assert await tasks[1] == 1
    assert breaker.state is CLOSED


async def test_a_failing_concurrent_trial_reopens_and_the_others_become_stale(
    fake_clock: FakeClock,
) -> None:
    """A failing concurrent trial re-opens the circuit; a later success of another is stale."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_max_calls=2)
    await open_then_wait(breaker, fake_clock)
    started = [asyncio.Event(), asyncio.Event()]
    release_ok = asyncio.Event()

    async def failing() -> None:
        started[0].set()
        raise ConnectionError("still down")

    async def succeeding() -> str:
        started[1].set()
        await release_ok.wait()
        return "late"

    slow = asyncio.create_task(breaker.acall(succeeding))
    await started[1].wait()
    with pytest.raises(ConnectionError):
        await breaker.acall(failing)
    assert breaker.state is OPEN
    opened_at = breaker.snapshot().opened_at
    fake_clock.advance(1)
    release_ok.set()
    assert await slow == "late"
    assert breaker.state is OPEN  # the late success is stale: it cannot close
    assert breaker.snapshot().opened_at == opened_at


async def test_asleep_of_the_fake_clock_drives_the_open_period(fake_clock: FakeClock) -> None:
    """Awaiting the fake clock's asleep for retry_after lets the next call be a trial."""
    breaker = make(fake_clock, failure_threshold=1, open_for=5)
    await fail(breaker)
    with pytest.raises(CircuitOpenError) as info:
        await breaker.acall(ok)
    assert info.value.retry_after == 5.0
    await fake_clock.asleep(info.value.retry_after or 0.0)
    assert await breaker.acall(ok) == "ok"
    assert breaker.state is CLOSED


class HostileError(ConnectionError):
    """A failure whose ``__repr__`` and ``__str__`` raise."""

    def __repr__(self) -> str:
        raise RuntimeError("repr bug")

    def __str__(self) -> str:
        raise RuntimeError("str bug")


@pytest.mark.parametrize("state", ["closed", "half_open"])
@pytest.mark.parametrize("form", ["decorator", "acall", "async with"])
async def test_a_hostile_exception_reaches_the_awaiting_caller_as_itself(
    state: str, form: str, fake_clock: FakeClock
) -> None:
    """An exception whose repr raises is re-raised as itself, and still trips the circuit."""
    breaker = make(fake_clock, failure_threshold=1, open_for=5)
    if state == "half_open":
        await open_then_wait(breaker, fake_clock)
    error = HostileError()

    async def remote() -> None:
        raise error

    async def through() -> None:
        if form == "decorator":
            await breaker(remote)()
        elif form == "acall":
            await breaker.acall(remote)
        else:
            async with breaker:
                await remote()

    with pytest.raises(HostileError) as info:
        await through()
    assert info.value is error
    assert breaker.state is OPEN
    reason = breaker.snapshot().reason
    assert reason is not None
    assert "HostileError object; its __repr__ raised RuntimeError" in reason
