"""The clock protocol, the system clock, FakeClock and the ``fake_clock`` fixture."""

from __future__ import annotations

import asyncio
import threading

import pytest

from resilience import BreakerConfig, CircuitBreaker, CircuitState, Clock, SystemClock
from resilience.testing import FakeClock


def test_fake_clock_starts_at_zero_by_default() -> None:
    """A FakeClock built without arguments reads 0.0."""
    assert FakeClock().monotonic() == 0.0


def test_fake_clock_starts_where_told() -> None:
    """A FakeClock reads its ``start`` until it is advanced, as a float."""
    clock = FakeClock(start=100)
    assert clock.monotonic() == 100.0
    assert isinstance(clock.monotonic(), float)
    assert clock.monotonic() == 100.0


def test_advance_moves_time_forward_by_the_amount() -> None:
    """Each advance adds exactly its amount to the reading."""
    clock = FakeClock(start=1.5)
    clock.advance(2)
    clock.advance(0.25)
    clock.advance(0)
    assert clock.monotonic() == 3.75


def test_negative_advance_is_rejected() -> None:
    """Advancing by a negative amount raises ValueError and leaves the time alone."""
    clock = FakeClock(start=10)
    with pytest.raises(ValueError, match="time can't go backwards"):
        clock.advance(-0.5)
    assert clock.monotonic() == 10.0


def test_sleep_advances_instantly() -> None:
    """``sleep`` moves the fake time by its argument instead of blocking."""
    clock = FakeClock()
    clock.sleep(3600)
    assert clock.monotonic() == 3600.0


def test_sleep_with_a_negative_wait_is_a_no_op() -> None:
    """A negative sleep counts as zero rather than moving time backwards or raising."""
    clock = FakeClock(start=5)
    clock.sleep(-2)
    clock.sleep(0)
    assert clock.monotonic() == 5.0


async def test_asleep_advances_instantly() -> None:
    """``asleep`` moves the fake time by its argument without waiting."""
    clock = FakeClock()
    await clock.asleep(90)
    await clock.asleep(-1)
    assert clock.monotonic() == 90.0


async def test_asleep_lets_other_tasks_run() -> None:
    """``asleep`` yields to the event loop, so a task scheduled before it gets to run."""
    clock = FakeClock()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.create_task(other())
    await clock.asleep(0)
    assert ran == ["other"]
    await task


def test_concurrent_advances_are_not_lost() -> None:
    """Advances from many threads at once all add up."""
    clock = FakeClock()

    def advance_many() -> None:
        for _ in range(2_000):
            clock.advance(1)

    threads = [threading.Thread(target=advance_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert clock.monotonic() == 8_000.0


def test_fake_clock_repr_shows_the_time() -> None:
    """The repr reads back as a FakeClock at the current time."""
    clock = FakeClock(start=2)
    clock.advance(0.5)
    assert repr(clock) == "FakeClock(start=2.5)"


def test_fake_clock_fixture_is_a_fresh_fake_clock(fake_clock: FakeClock) -> None:
    """The pytest plugin's ``fake_clock`` fixture is a FakeClock at 0.0."""
    assert isinstance(fake_clock, FakeClock)
    assert fake_clock.monotonic() == 0.0


def test_fake_clock_fixture_drives_a_breaker(fake_clock: FakeClock) -> None:
    """A breaker on the fixture's clock reopens for trials when the fixture is advanced."""
    breaker = CircuitBreaker(
        "fixture", BreakerConfig(failure_threshold=1, open_for=30), clock=fake_clock
    )
    def refused() -> None:
        raise ConnectionRefusedError

    with pytest.raises(ConnectionRefusedError):
        breaker.call(refused)
    assert breaker.snapshot().state is CircuitState.OPEN
    fake_clock.advance(30)
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.snapshot().state is CircuitState.CLOSED


def test_fake_clock_satisfies_the_clock_protocol() -> None:
    """FakeClock is a Clock, statically and at run time."""
    clock: Clock = FakeClock()
    assert isinstance(clock, Clock)


def test_system_clock_satisfies_the_clock_protocol() -> None:
    """SystemClock is a Clock, statically and at run time."""
    clock: Clock = SystemClock()
    assert isinstance(clock, Clock)
    assert repr(clock) == "SystemClock()"


def test_objects_without_the_methods_are_not_clocks() -> None:
    """The runtime check rejects an object that cannot tell the time."""
    assert not isinstance(object(), Clock)


def test_system_clock_is_monotonic() -> None:
    """Successive readings of the system clock never go backwards."""
    clock = SystemClock()
    readings = [clock.monotonic() for _ in range(1_000)]
    assert readings == sorted(readings)


async def test_system_clock_zero_waits_return() -> None:
    """Zero-second sleeps on the system clock return at once, sync and async."""
    clock = SystemClock()
    before = clock.monotonic()
    clock.sleep(0)
    await clock.asleep(0)
    assert clock.monotonic() >= before
