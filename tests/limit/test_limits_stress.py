"""Bulkhead and AdaptiveLimiter under 16 threads and 1,000 tasks: limits hold, counts add up.

Every call records how many calls were inside at once; a deadlock fails the bounded
join or ``asyncio.wait_for`` instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from resilience import (
    AIMD,
    AdaptiveLimiter,
    Bulkhead,
    BulkheadFullError,
    Gradient2,
    LimitExceededError,
)

THREADS = 16
CALLS_PER_THREAD = 300
TASKS = 1_000
JOIN = 30.0


@pytest.fixture(autouse=True)
def _frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as possible, so interleavings are many and varied."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@dataclass
class Inside:
    """How many calls are inside now, and the most there ever were (under a lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    now: int = 0
    most: int = 0
    limits: list[tuple[int, int]] = field(default_factory=list)
    """(calls inside, the limiter's limit when it admitted the call) for each call."""

    def enter(self, limit: int = 0) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if limit:
                self.limits.append((self.now, limit))

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def run_threads(work: object) -> None:
    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN)
    assert not any(thread.is_alive() for thread in threads), "deadlock: a thread never ended"


def test_bulkhead_under_threads() -> None:
    """16 threads: never more than max_concurrent inside, and every call accounted for."""
    bulkhead = Bulkhead("db", max_concurrent=4, max_queue=6, queue_timeout=JOIN)
    inside = Inside()
    ok = [0] * THREADS
    full = [0] * THREADS

    def work(n: int) -> None:
        rng = random.Random(n)
        for _ in range(CALLS_PER_THREAD):

            def call() -> None:
                inside.enter()
                if rng.random() < 0.3:
                    threading.Event().wait(0.0001)  # hold the slot a moment: build a queue
                inside.leave()

            try:
                bulkhead.call(call)
            except BulkheadFullError:
                full[n] += 1
            else:
                ok[n] += 1

    run_threads(work)
    (m,) = bulkhead.measurements()
    assert inside.most <= 4
    assert sum(full) > 0  # the bulkhead was full at times: the limit was tested
    assert m.totals["admitted"] == sum(ok)
    assert m.totals["rejected"] + m.totals["timed_out"] == sum(full)
    assert sum(ok) + sum(full) == THREADS * CALLS_PER_THREAD
    assert bulkhead.idle


def test_bulkhead_under_tasks_with_cancellations() -> None:
    """1,000 tasks, some cancelled queued or running: the limit holds, no slot leaks."""
    bulkhead = Bulkhead("db", max_concurrent=10, max_queue=200, queue_timeout=JOIN)
    inside = Inside()

    async def call(rng: random.Random) -> None:
        inside.enter()
        try:
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
        finally:
            inside.leave()

    async def main() -> tuple[int, int, int]:
        rng = random.Random(7)
        tasks = [asyncio.create_task(bulkhead.acall(call, random.Random(i))) for i in range(TASKS)]
        for _ in range(5):
            await asyncio.sleep(0)
            for task in rng.sample(tasks, 20):
                task.cancel()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), JOIN)
        cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
        refused = sum(isinstance(r, BulkheadFullError) for r in results)
        done = sum(r is None for r in results)
        return done, refused, cancelled

    done, refused, cancelled = asyncio.run(main())
    (m,) = bulkhead.measurements()
    assert inside.most <= 10
    assert done + refused + cancelled == TASKS
    assert cancelled > 0
    assert refused > 0
    assert m.totals["rejected"] + m.totals["timed_out"] == refused
    # A task cancelled while running was admitted; one cancelled queued was not.
    assert m.totals["admitted"] + m.totals["cancelled"] + m.totals["rejected"] == TASKS
    assert bulkhead.idle


@pytest.mark.parametrize(
    "algorithm", [AIMD(initial_limit=8, max_limit=12), Gradient2(initial_limit=8, max_limit=12)]
)
def test_limiter_under_threads(algorithm: AIMD | Gradient2) -> None:
    """16 threads: a call is only admitted below the limit, and every call is counted."""
    limiter = AdaptiveLimiter("db", algorithm)
    inside = Inside()
    ok = [0] * THREADS
    refused = [0] * THREADS

    def work(n: int) -> None:
        rng = random.Random(n)
        for _ in range(CALLS_PER_THREAD):
            try:
                token = limiter.before(None, (), {})
            except LimitExceededError:
                refused[n] += 1
                continue
            inside.enter()
            inside.leave()
            error = TimeoutError() if rng.random() < 0.05 else None
            limiter.after(token, None, error)
            ok[n] += 1

    run_threads(work)
    (m,) = limiter.measurements()
    assert inside.most <= algorithm.max_limit
    assert m.totals["admitted"] == sum(ok)
    assert m.totals["rejected"] == sum(refused)
    assert algorithm.min_limit <= limiter.limit <= algorithm.max_limit
    assert limiter.idle


def test_limiter_under_tasks() -> None:
    """1,000 tasks: in flight never exceeds the limit that admitted them; counts add up."""
    limiter = AdaptiveLimiter("db", AIMD(initial_limit=5, min_limit=2, max_limit=20))
    inside = Inside()

    async def call(n: int) -> None:
        inside.enter(limiter.limit)
        try:
            await asyncio.sleep(0)
            if n % 17 == 0:
                raise TimeoutError("slow remote")
        finally:
            inside.leave()

    async def main() -> list[object]:
        tasks = [asyncio.create_task(limiter.acall(call, n)) for n in range(TASKS)]
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), JOIN)

    results = asyncio.run(main())
    (m,) = limiter.measurements()
    refused = sum(isinstance(r, LimitExceededError) for r in results)
    assert refused == m.totals["rejected"] > 0
    assert m.totals["admitted"] + refused == TASKS
    assert inside.most <= 20
    assert all(count <= 20 for count, _ in inside.limits)
    assert limiter.idle
