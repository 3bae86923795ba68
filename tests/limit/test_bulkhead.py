"""Bulkhead: slots, the bounded queue, refusals, cancellation, the forms and its parts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from resilience import (
    Bulkhead,
    BulkheadConfig,
    BulkheadFullError,
    BulkheadRejected,
    Event,
    Pipeline,
    RejectedError,
    Remotes,
    RetryPolicy,
)
from resilience.testing import FakeClock

JOIN = 10.0  # seconds a test thread may take at most: a deadlock fails, not hangs


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_concurrent": "many"}, "max_concurrent"),
        ({"max_queue": -1}, "max_queue"),
        ({"queue_timeout": 0}, "queue_timeout"),
        ({"queue_timeout": float("inf")}, "queue_timeout"),
        ({"queue_timeout": timedelta(seconds=-1)}, "queue_timeout"),
        ({"max_waiting": 3}, "max_waiting"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    """Each bad field is refused at construction, by its name."""
    with pytest.raises(ValueError, match=field):
        BulkheadConfig(**kwargs)
    if field != "max_waiting":
        with pytest.raises(ValueError, match=field):
            Bulkhead("db", **kwargs)


def test_config_and_fields_and_names() -> None:
    """A config or its fields, not both; the name is a non-empty str; timedelta converts."""
    config = BulkheadConfig(max_concurrent=3, queue_timeout=timedelta(milliseconds=250))  # type: ignore[arg-type] # converted
    assert config.queue_timeout == 0.25
    assert Bulkhead("db", config).config is config
    assert Bulkhead("db", max_queue=2).config == BulkheadConfig(max_queue=2)
    with pytest.raises(TypeError, match="not both"):
        Bulkhead("db", config, max_queue=2)
    with pytest.raises(TypeError, match="BulkheadConfig"):
        Bulkhead("db", {"max_concurrent": 2})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        Bulkhead("")
    with pytest.raises(TypeError, match="listener"):
        Bulkhead("db", listeners=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="listener"):
        Bulkhead("db").add_listener("x")  # type: ignore[arg-type]
    assert repr(Bulkhead("db", max_concurrent=2)) == "Bulkhead('db', max_concurrent=2, max_queue=0)"


# ------------------------------------------------------------------- sync calls


def test_a_full_bulkhead_refuses_at_once_with_its_counts() -> None:
    """With every slot held and no queue, a call is refused at once, saying by whom and why."""
    events: list[Event] = []
    bulkhead = Bulkhead("db", max_concurrent=2, listeners=[events.append])
    for _ in range(2):
        bulkhead.before(None, (), {})
    with pytest.raises(BulkheadFullError) as caught:
        bulkhead.call(lambda: "never")
    error = caught.value
    assert isinstance(error, RejectedError)
    assert (error.name, error.in_use, error.queued, error.waited) == ("db", 2, 0, None)
    assert error.retry_after is None
    assert error.subject == "bulkhead 'db' is full"
    assert "2 of 2 in use" in str(error)
    assert "refused at once" in str(error)
    assert events == [BulkheadRejected("db", 2, 0, 2, 0, None)]
    assert events[0].fields()["event"] == "bulkhead.rejected"
    assert "rejected a call at once" in events[0].describe()
    for _ in range(2):
        bulkhead.after(None, None, None)
    assert bulkhead.call(lambda: "now") == "now"
    assert bulkhead.idle


def test_a_slot_is_freed_whatever_the_outcome() -> None:
    """A call that raises gives its slot back too."""
    bulkhead = Bulkhead("db", max_concurrent=1)

    @bulkhead
    def fail() -> None:
        raise ConnectionError("reset")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            fail()
    assert bulkhead.in_use == 0
    assert bulkhead.measurements()[0].totals["admitted"] == 3


def test_a_queued_thread_gets_the_slot_a_holder_frees() -> None:
    """A thread waits in the queue and takes the slot when the holder leaves."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=1, queue_timeout=JOIN)
    entered, release = threading.Event(), threading.Event()
    got: list[str] = []

    def holder() -> None:
        with bulkhead:
            entered.set()
            release.wait(JOIN)

    first = threading.Thread(target=holder)
    first.start()
    assert entered.wait(JOIN)
    second = threading.Thread(target=lambda: got.append(bulkhead.call(lambda: "second")))
    second.start()
    while bulkhead.queued == 0:  # the second thread is queued: nothing else can move
        assert second.is_alive()
        threading.Event().wait(0.001)
    with pytest.raises(BulkheadFullError, match="1 of 1 queued"):
        bulkhead.call(lambda: "third")  # the queue is full: refused at once
    release.set()
    first.join(JOIN)
    second.join(JOIN)
    assert got == ["second"]
    assert (bulkhead.in_use, bulkhead.queued) == (0, 0)


def test_a_queued_thread_gives_up_after_queue_timeout() -> None:
    """A queued call that gets no slot within queue_timeout is refused, with its wait."""
    clock = FakeClock()
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=3, queue_timeout=0.02, clock=clock)
    with bulkhead, pytest.raises(BulkheadFullError) as caught:
        threading_call(bulkhead)
    assert caught.value.waited is not None
    assert "within its queue_timeout" in str(caught.value)
    totals = bulkhead.measurements()[0].totals
    assert (totals["timed_out"], totals["rejected"], bulkhead.queued) == (1, 0, 0)


def threading_call(bulkhead: Bulkhead) -> None:
    """Call through the bulkhead from another thread; raise what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            bulkhead.call(lambda: None)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(JOIN)
    assert not thread.is_alive()
    if raised:
        raise raised[0]


def test_a_decorated_call_inside_its_block_uses_the_blocks_slot() -> None:
    """Inside ``with bulkhead:``, a function it decorates runs on the block's slot."""
    bulkhead = Bulkhead("db", max_concurrent=1)

    @bulkhead
    def inner() -> int:
        return bulkhead.in_use

    with bulkhead:
        assert inner() == 1
    assert bulkhead.idle


def test_in_a_pipeline_each_retried_attempt_takes_a_slot() -> None:
    """Inside a retry, every attempt takes and frees a slot; a refusal is retried too."""
    clock = FakeClock()
    bulkhead = Bulkhead("db", max_concurrent=1)
    seen: list[int] = []

    def flaky() -> str:
        seen.append(bulkhead.in_use)
        if len(seen) < 3:
            raise ConnectionError("reset")
        return "ok"

    pipeline = Pipeline(RetryPolicy(attempts=3, clock=clock), bulkhead)
    assert pipeline.call(flaky) == "ok"
    assert seen == [1, 1, 1]
    assert bulkhead.idle


def test_a_generator_holds_its_slot_until_it_ends() -> None:
    """A decorated generator holds a slot over its whole iteration."""
    bulkhead = Bulkhead("db", max_concurrent=1)

    @bulkhead
    def numbers() -> Iterator[int]:
        yield bulkhead.in_use
        yield bulkhead.in_use

    items = numbers()
    assert next(items) == 1
    with pytest.raises(BulkheadFullError):
        bulkhead.call(lambda: None)
    assert list(items) == [1]
    assert bulkhead.idle


def test_per_remote_each_remote_has_its_own_slots() -> None:
    """Through Remotes, each remote's bulkhead counts its own calls, sync and async."""
    remotes = Remotes(lambda remote: Bulkhead(remote, max_concurrent=1))
    by_arg = remotes.protect(lambda remote: remote)

    @by_arg
    def call(remote: str) -> int:
        return remotes.get(remote).in_use

    assert call("s3") == 1
    with remotes.get("s3"), pytest.raises(BulkheadFullError, match="'s3'"):
        call("s3")
    assert call("gcs") == 1

    @by_arg
    async def acall(remote: str) -> int:
        return remotes.get(remote).in_use

    assert asyncio.run(acall("s3")) == 1
    assert all(bulkhead.idle for bulkhead in remotes)
    assert {m.name for m in remotes.measurements()} == {"s3", "gcs"}


# ------------------------------------------------------------------- async calls


def test_async_queue_is_fifo_and_never_blocks_the_loop() -> None:
    """Queued tasks wait on the loop (other tasks run) and get slots in arrival order."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=3, queue_timeout=JOIN)
    order: list[int] = []

    async def main() -> None:
        gate = asyncio.Event()

        @bulkhead
        async def work(n: int) -> None:
            order.append(n)
            await gate.wait()

        tasks = [asyncio.create_task(work(n)) for n in range(4)]
        while bulkhead.queued < 3:
            await asyncio.sleep(0)  # the loop runs while they wait
        assert bulkhead.in_use == 1
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert order == [0, 1, 2, 3]
    assert bulkhead.idle


def test_cancelling_a_queued_or_running_task_frees_its_place() -> None:
    """A cancelled queued task leaves the queue; a cancelled running one frees its slot."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=2, queue_timeout=JOIN)

    async def main() -> None:
        @bulkhead
        async def hang() -> None:
            await asyncio.Event().wait()

        running = asyncio.create_task(hang())
        queued = asyncio.create_task(hang())
        while bulkhead.queued < 1:
            await asyncio.sleep(0)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert (bulkhead.in_use, bulkhead.queued) == (1, 0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert bulkhead.idle
        assert await bulkhead.acall(asyncio.sleep, 0, "free") == "free"

    asyncio.run(main())
    assert bulkhead.measurements()[0].totals["cancelled"] == 1


def test_an_async_wait_runs_out_after_queue_timeout() -> None:
    """A queued task gets no slot within queue_timeout: BulkheadFullError with its wait."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=1, queue_timeout=0.02)

    async def main() -> None:
        async with bulkhead:
            with pytest.raises(BulkheadFullError) as caught:
                await bulkhead.acall(asyncio.sleep, 0)
            assert caught.value.waited is not None
        assert bulkhead.idle

    asyncio.run(main())


def test_a_full_queue_refuses_threads_and_tasks_at_once() -> None:
    """With the slot held and the queue full, a thread and a task alike are refused unqueued."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=1, queue_timeout=5.0)

    async def main() -> None:
        async with bulkhead:
            queued = asyncio.create_task(bulkhead.acall(asyncio.sleep, 0))
            while not bulkhead.queued:
                await asyncio.sleep(0)
            with pytest.raises(BulkheadFullError) as by_task:
                await bulkhead.acall(asyncio.sleep, 0)
            with pytest.raises(BulkheadFullError) as by_thread:
                bulkhead.call(lambda: None)
            assert by_task.value.waited is None
            assert by_thread.value.waited is None
            assert (bulkhead.in_use, bulkhead.queued) == (1, 1)
        await queued
        assert bulkhead.idle
        assert bulkhead.measurements()[0].totals["rejected"] == 2

    asyncio.run(main())


def test_a_slot_granted_to_a_task_cancelled_meanwhile_passes_on() -> None:
    """A task cancelled just as its slot arrives hands the slot to the next waiter."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=2, queue_timeout=JOIN)

    async def main() -> None:
        bulkhead.before(None, (), {})

        async def wait() -> str:
            await bulkhead.abefore(None, (), {})
            bulkhead.after(None, None, None)
            return "got it"

        first, second = asyncio.create_task(wait()), asyncio.create_task(wait())
        while bulkhead.queued < 2:
            await asyncio.sleep(0)
        bulkhead.after(None, None, None)  # the slot goes to the first waiter...
        first.cancel()  # ...which is cancelled before it runs
        assert await second == "got it"
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(main())
    assert bulkhead.idle


def test_async_generator_and_async_with() -> None:
    """``async with`` and an async generator take a slot through the async admission."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=1, queue_timeout=JOIN)

    @bulkhead
    async def numbers() -> AsyncIterator[int]:
        yield bulkhead.in_use

    async def main() -> list[int]:
        async with bulkhead:
            assert bulkhead.in_use == 1
        return [n async for n in numbers()]

    assert asyncio.run(main()) == [1]
    assert bulkhead.idle


def test_threads_and_tasks_share_the_slots() -> None:
    """A thread's slot, freed, goes to a task queued on a loop in another thread."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=1, queue_timeout=JOIN)
    bulkhead.before(None, (), {})

    async def queued() -> int:
        return await bulkhead.acall(asyncio.sleep, 0, bulkhead.in_use)

    got: list[int] = []
    thread = threading.Thread(target=lambda: got.append(asyncio.run(queued())))
    thread.start()
    while bulkhead.queued == 0:
        assert thread.is_alive()
        threading.Event().wait(0.001)
    bulkhead.after(None, None, None)
    thread.join(JOIN)
    assert got == [1]
    assert bulkhead.idle


# ------------------------------------------------------------------ measurements


def test_measurements_show_slots_queue_and_totals() -> None:
    """Measurements: in use, queued, the limits, totals, and unhealthy while full."""
    bulkhead = Bulkhead("db", max_concurrent=2)
    (m,) = bulkhead.measurements()
    assert (m.kind, m.name, m.healthy, m.state) == ("bulkhead", "db", True, "0 of 2 in use")
    for _ in range(2):
        bulkhead.before(None, (), {})
    with pytest.raises(BulkheadFullError):
        bulkhead.before(None, (), {})
    (m,) = bulkhead.measurements()
    assert not m.healthy
    assert m.state == "2 of 2 in use: full"
    assert m.gauges == {"in_use": 2, "queued": 0, "max_concurrent": 2, "max_queue": 0}
    assert m.totals == {"admitted": 2, "rejected": 1, "timed_out": 0, "cancelled": 0}
    assert not bulkhead.idle
    for _ in range(2):
        bulkhead.after(None, None, None)
    assert bulkhead.idle


def test_a_waiter_whose_loop_closed_is_passed_over() -> None:
    """A slot freed for a task whose loop is gone goes to the next waiter, or is free."""
    bulkhead = Bulkhead("db", max_concurrent=1, max_queue=2, queue_timeout=JOIN)
    bulkhead.before(None, (), {})
    loop = asyncio.new_event_loop()
    waiting = loop.create_task(bulkhead.abefore(None, (), {}))
    loop.run_until_complete(asyncio.sleep(0))  # the task is queued, and left so
    assert bulkhead.queued == 1
    loop.close()  # abandoned with its task still waiting, as a loop that crashed
    bulkhead.after(None, None, None)
    assert (bulkhead.in_use, bulkhead.queued) == (0, 0)
    assert bulkhead.call(lambda: "free") == "free"
    waiting._log_destroy_pending = False  # type: ignore[attr-defined] # noqa: SLF001 - abandoned on purpose


def test_a_retry_does_not_spin_on_a_full_bulkhead() -> None:
    """A retry outside a full bulkhead gives up at once, its note saying who refused."""
    clock = FakeClock()
    bulkhead = Bulkhead("db", max_concurrent=1)
    pipeline = Pipeline(RetryPolicy(attempts=5, clock=clock), bulkhead)
    with bulkhead, pytest.raises(BulkheadFullError) as caught:
        pipeline.call(lambda: "never")
    assert clock.monotonic() == 0.0
    assert "bulkhead 'db' is full with no free slot coming" in caught.value.__notes__[0]
