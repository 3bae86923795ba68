"""Thread stress: many threads through one breaker on a flapping dependency."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from resilience import (
    BreakerConfig,
    CallRecorded,
    CallRejected,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Event,
    Outcome,
    StateChanged,
)
from resilience.testing import FakeClock

THREADS = 8
CALLS = 5_000
MAX_TRIALS = 2


@pytest.fixture(autouse=True)
def _frequent_thread_switches() -> Iterator[None]:
    # Switch threads every microsecond instead of every 5 ms, so that calls interleave
    # inside the breaker's admission and recording, not just between calls.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


class Flapping:
    """A dependency that fails in bursts: down for 3 s of every 10."""

    def __init__(self, breaker: CircuitBreaker, clock: FakeClock) -> None:
        self.breaker = breaker
        self.clock = clock
        self.lock = threading.Lock()
        self.trials: Counter[int] = Counter()  # trial calls running, per generation
        self.max_trials = 0
        self.trial_calls = 0

    def __call__(self) -> None:
        breaker = self.breaker
        assert breaker._cv is not None
        token = breaker._cv.get()[0]
        with breaker._lock:  # read the generation and its state together
            trial = token == breaker._gen and breaker._state is CircuitState.HALF_OPEN
        if trial:
            # Admitted as a trial of the HALF_OPEN generation still current: it holds a
            # permit until its outcome is recorded.
            with self.lock:
                self.trials[token] += 1
                self.trial_calls += 1
                self.max_trials = max(self.max_trials, self.trials[token])
        try:
            self.clock.advance(0.001)
            if trial:
                sum(range(20000))  # a trial takes a while, so that trials overlap
            if self.clock.monotonic() % 10 < 3:
                raise ConnectionResetError("flapping")
        finally:
            if trial:
                with self.lock:
                    self.trials[token] -= 1


def test_eight_threads_flapping_keep_permits_exact_and_counts_whole() -> None:
    """8 x 5,000 calls: trials never exceed the limit, every call is accounted, no deadlock."""
    clock = FakeClock()
    events: list[Event] = []
    events_lock = threading.Lock()

    def listen(event: Event) -> None:
        with events_lock:
            events.append(event)

    config = BreakerConfig(
        failure_rate=0.5,
        window=50,
        minimum_calls=20,
        open_for=0.2,
        half_open_max_calls=MAX_TRIALS,
        success_threshold=3,
    )
    breaker = CircuitBreaker("flapping", config, clock=clock, listeners=[listen])
    dependency = Flapping(breaker, clock)
    totals: list[Counter[str]] = [Counter() for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    crashed: list[BaseException] = []

    def worker(tally: Counter[str]) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(CALLS):
                try:
                    with breaker:
                        dependency()
                except CircuitOpenError:
                    tally["rejected"] += 1
                    clock.advance(0.001)  # time passes for rejected callers too
                except ConnectionResetError:
                    tally["failed"] += 1
                else:
                    tally["succeeded"] += 1
        except BaseException as exc:  # surfaced by the assertion below
            crashed.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in totals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck: deadlock"
    assert not crashed

    total = sum(totals, Counter())
    assert total.total() == THREADS * CALLS
    assert dependency.max_trials <= MAX_TRIALS
    assert dependency.trial_calls > 0, "the run never exercised HALF_OPEN"
    assert all(count == 0 for count in dependency.trials.values())

    recorded = [e for e in events if isinstance(e, CallRecorded)]
    rejected = [e for e in events if isinstance(e, CallRejected)]
    changes = [e for e in events if isinstance(e, StateChanged)]
    assert len(recorded) + len(rejected) == THREADS * CALLS
    assert len(rejected) == total["rejected"] == breaker.snapshot().rejected
    by_outcome = Counter(e.outcome for e in recorded)
    assert by_outcome[Outcome.FAILURE] == total["failed"]
    assert by_outcome[Outcome.SUCCESS] == total["succeeded"]
    assert {(c.old, c.new) for c in changes} >= {
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    }


def test_threads_on_the_fast_path_lose_no_failure_count() -> None:
    """Without listeners or a window (the lock-free success path) failures still trip it."""
    clock = FakeClock()
    breaker = CircuitBreaker("lean", BreakerConfig(failure_threshold=THREADS * 10), clock=clock)
    barrier = threading.Barrier(THREADS)

    @breaker
    def down() -> None:
        raise ConnectionRefusedError

    def worker() -> None:
        barrier.wait(timeout=10)
        for _ in range(100):
            with contextlib.suppress(ConnectionRefusedError, CircuitOpenError):
                down()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert breaker.state is CircuitState.OPEN
