"""RateLimiter under 16 threads and 1,000 tasks: limits kept, counters add up, no deadlock.

Time is a clock that stands still while the requests race (it records the sleeps asked
of it), so the exact answer is known: ``burst`` requests now, then one per interval,
each reservation one interval after the one before, none twice.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from resilience import Pipeline, RateLimitedError, RateLimiter
from resilience.testing import FakeClock

THREADS = 16
TASKS = 1_000


class Still(FakeClock):
    """A clock that stays put and records every sleep, from any thread or task."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []
        self.guard = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self.guard:
            self.slept.append(seconds)

    async def asleep(self, seconds: float) -> None:
        with self.guard:
            self.slept.append(seconds)
        await asyncio.sleep(0)


def run_threads(target: object, count: int = THREADS) -> None:
    barrier = threading.Barrier(count)

    def body() -> None:
        barrier.wait()
        target()  # type: ignore[operator]

    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "deadlock: a thread never finished"


def test_threads_never_take_more_than_the_burst() -> None:
    """16 threads x 500 try_acquire() at one instant: exactly ``burst`` admitted."""
    rl = RateLimiter(rate=100, burst=100, clock=Still())
    admitted = [0] * THREADS
    ids = iter(range(THREADS))
    lock = threading.Lock()

    def body() -> None:
        with lock:
            me = next(ids)
        for _ in range(500):
            if rl.try_acquire():
                admitted[me] += 1

    run_threads(body)
    assert sum(admitted) == 100
    (m,) = rl.measurements()
    assert m.totals == {"admitted": 100, "delayed": 0, "rejected": THREADS * 500 - 100}


def test_threads_waiting_in_a_pipeline_get_distinct_turns() -> None:
    """16 threads x 50 calls with waits: every turn is reserved once, in interval steps."""
    clock = Still()
    rl = RateLimiter(rate=1000, burst=10, max_wait=0.5, clock=clock)
    pipeline = Pipeline(rl)
    refused = []
    calls = []

    def body() -> None:
        for _ in range(50):
            try:
                calls.append(pipeline.call(int))
            except RateLimitedError as exc:
                refused.append(exc)

    run_threads(body)
    # 10 at once, then one each millisecond up to max_wait: 500 more.
    assert len(calls) == 510
    assert len(refused) == THREADS * 50 - 510
    assert sorted(clock.slept) == pytest.approx([i / 1000 for i in range(1, 501)])
    (m,) = rl.measurements()
    assert m.totals == {"admitted": 510, "delayed": 500, "rejected": len(refused)}


async def test_a_thousand_tasks_wait_their_turns() -> None:
    """1,000 tasks through an async pipeline: each awaits its own turn, none refused."""
    clock = Still()
    rl = RateLimiter(rate=100, burst=20, max_wait=100, clock=clock)
    pipeline = Pipeline(rl)

    async def work(i: int) -> int:
        await asyncio.sleep(0)
        return i

    results = await asyncio.wait_for(
        asyncio.gather(*(pipeline.acall(work, i) for i in range(TASKS))), timeout=30
    )
    assert results == list(range(TASKS))
    assert sorted(clock.slept) == pytest.approx([i / 100 for i in range(1, TASKS - 20 + 1)])
    (m,) = rl.measurements()
    assert m.totals == {"admitted": TASKS, "delayed": TASKS - 20, "rejected": 0}


async def test_a_thousand_tasks_past_max_wait_are_refused() -> None:
    """1,000 tasks with a short max_wait: the burst and the turns within it pass, no more."""
    clock = Still()
    rl = RateLimiter(rate=100, burst=20, max_wait=1, clock=clock)

    async def one() -> bool:
        try:
            await rl.aacquire()
        except RateLimitedError:
            return False
        return True

    outcomes = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(TASKS))), timeout=30)
    assert outcomes.count(True) == 20 + 100
    (m,) = rl.measurements()
    assert m.totals == {"admitted": 120, "delayed": 100, "rejected": TASKS - 120}
