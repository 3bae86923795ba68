"""The breaker's async forms: decorator, ``async with``, ``acall``, cancellation."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from resilience import BreakerConfig, CircuitBreaker, CircuitOpenError, CircuitState
from resilience.testing import FakeClock


async def refused() -> None:
    raise ConnectionRefusedError("connection refused")


async def open_breaker(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold or 1):
        with pytest.raises(ConnectionRefusedError):
            await breaker.acall(refused)
    assert breaker.state is CircuitState.OPEN


async def test_decorator_keeps_a_coroutine_function_and_its_name() -> None:
    """@breaker on a coroutine function gives a coroutine function with the same name."""
    breaker = CircuitBreaker("api", clock=FakeClock())

    @breaker
    async def fetch(key: str) -> str:
        """Fetch a key."""
        return f"value of {key}"

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch a key."
    assert await fetch("a") == "value of a"


async def test_decorated_coroutine_failures_open_the_circuit() -> None:
    """Failures of an async call count; once open, calls are rejected without running."""
    clock = FakeClock()
    breaker = CircuitBreaker("api", BreakerConfig(failure_threshold=2, open_for=10), clock=clock)
    runs = 0

    @breaker
    async def down() -> None:
        nonlocal runs
        runs += 1
        raise TimeoutError("read timed out")

    for _ in range(2):
        with pytest.raises(TimeoutError):
            await down()
    with pytest.raises(CircuitOpenError) as info:
        await down()
    assert runs == 2
    assert info.value.retry_after == 10


async def test_async_with_records_success_and_failure() -> None:
    """``async with breaker:`` counts the block's outcome."""
    clock = FakeClock()
    breaker = CircuitBreaker("db", BreakerConfig(failure_threshold=2), clock=clock)
    async with breaker:
        pass
    with pytest.raises(ConnectionResetError):
        async with breaker:
            raise ConnectionResetError
    assert breaker.snapshot().consecutive_failures == 1
    async with breaker:
        pass
    assert breaker.snapshot().consecutive_failures == 0


async def test_acall_passes_arguments_and_returns_the_result() -> None:
    """acall awaits fn(*args, **kwargs) and returns its result."""
    breaker = CircuitBreaker("api", clock=FakeClock())

    async def add(a: int, *, b: int) -> int:
        return a + b

    assert await breaker.acall(add, 2, b=3) == 5


async def test_cancelled_trial_call_is_ignored_and_gives_its_permit_back() -> None:
    """A trial call cancelled mid-flight neither closes nor re-opens; its permit returns."""
    clock = FakeClock()
    breaker = CircuitBreaker("api", BreakerConfig(failure_threshold=1, open_for=5), clock=clock)
    await open_breaker(breaker)
    clock.advance(5)
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.acall(hangs))
    await started.wait()
    snap = breaker.snapshot()
    assert snap.state is CircuitState.HALF_OPEN
    assert snap.half_open_calls == 1
    with pytest.raises(CircuitOpenError):  # the only permit is taken
        await breaker.acall(refused)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snap = breaker.snapshot()
    assert snap.state is CircuitState.HALF_OPEN
    assert snap.half_open_calls == 0

    async def fine() -> str:
        return "fine"

    assert await breaker.acall(fine) == "fine"  # the permit is free again
    assert breaker.state is CircuitState.CLOSED


async def test_cancellation_in_closed_state_does_not_count_or_reset() -> None:
    """Cancelling a call while CLOSED leaves the consecutive-failure count as it was."""
    breaker = CircuitBreaker("api", BreakerConfig(failure_threshold=3), clock=FakeClock())
    with pytest.raises(ConnectionRefusedError):
        await breaker.acall(refused)
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.acall(hangs))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.snapshot().consecutive_failures == 1


async def test_concurrent_tasks_get_exactly_the_half_open_permits() -> None:
    """Of many concurrent tasks in HALF_OPEN, only half_open_max_calls run; the rest fail fast."""
    clock = FakeClock()
    config = BreakerConfig(failure_threshold=1, open_for=5, half_open_max_calls=2)
    breaker = CircuitBreaker("api", config, clock=clock)
    await open_breaker(breaker)
    clock.advance(5)
    release = asyncio.Event()
    running = 0
    most = 0

    async def trial() -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return "ok"

    tasks = [asyncio.create_task(breaker.acall(trial)) for _ in range(6)]
    for _ in range(3):
        await asyncio.sleep(0)  # let every task reach the breaker
    assert breaker.snapshot().half_open_calls == 2
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert most == 2
    assert results.count("ok") == 2
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 4
    assert breaker.state is CircuitState.CLOSED


async def test_async_with_in_concurrent_tasks_pairs_each_exit_with_its_enter() -> None:
    """Each task's ``async with`` records its own call, however the tasks interleave."""
    clock = FakeClock()
    breaker = CircuitBreaker("api", BreakerConfig(failure_threshold=1, open_for=5), clock=clock)
    first_in = asyncio.Event()
    second_done = asyncio.Event()

    async def slow_success() -> None:
        async with breaker:
            first_in.set()
            await second_done.wait()

    async def quick_failure() -> None:
        await first_in.wait()
        with pytest.raises(ConnectionResetError):
            async with breaker:
                raise ConnectionResetError
        second_done.set()

    await asyncio.gather(slow_success(), quick_failure())
    # The failure opened the circuit; the older success finished after that and, being
    # stale, did not close it again.
    assert breaker.state is CircuitState.OPEN
