"""CircuitBreaker under threads: exact half-open permits, whole counts, no deadlock."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

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
JOIN_TIMEOUT = 60.0


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
class Tally:
    """What one thread saw."""

    attempts: int = 0
    successes: int = 0
    failures: int = 0
    ignored: int = 0
    rejections: int = 0


@dataclass
class Trials:
    """Trial calls running now, per half-open period (the breaker's generation)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: Counter[int] = field(default_factory=Counter)
    peak: int = 0
    seen: int = 0

    def enter(self, gen: int) -> None:
        with self.lock:
            self.running[gen] += 1
            self.peak = max(self.peak, self.running[gen])
            self.seen += 1

    def leave(self, gen: int) -> None:
        with self.lock:
            self.running[gen] -= 1


class Events:
    """A thread-safe listener counting what it is told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, CallRecorded):
                self.counts[event.outcome.value] += 1
            elif isinstance(event, CallRejected):
                self.counts["rejected"] += 1
            elif isinstance(event, StateChanged):
                self.counts[f"to {event.new.value}"] += 1


def _reading(breaker: CircuitBreaker) -> tuple[int, CircuitState]:
    """The breaker's generation and state, read together."""
    # read_shared calls its function under the breaker's lock: no transition in between.
    return breaker.read_shared(lambda state, _streak: (breaker.epoch, state))


def test_eight_threads_on_a_flapping_dependency_keep_trials_exact_and_counts_whole(  # noqa: PLR0915 - one scenario, many checks
    fake_clock: FakeClock,
) -> None:
    """Eight threads on a flapping remote never exceed the trial permits, and lose no outcome."""
    events = Events()
    breaker = CircuitBreaker(
        "flapping",
        BreakerConfig(failure_threshold=3, open_for=0.05, half_open_max_calls=MAX_TRIALS),
        clock=fake_clock,
        listeners=[events],
    )
    trials = Trials()
    calls = 0
    calls_lock = threading.Lock()
    tallies = [Tally() for _ in range(THREADS)]
    errors: list[BaseException] = []

    def dependency(before: tuple[int, CircuitState]) -> str:
        nonlocal calls
        with calls_lock:
            calls += 1
            n = calls
        fake_clock.advance(0.001)
        gen, state = _reading(breaker)
        # Admitted between `before` and now, with the state OPEN/HALF_OPEN throughout and
        # HALF_OPEN now: an OPEN breaker admits only by turning HALF_OPEN, so this is
        # certainly a trial of half-open period `gen`.
        trial = (
            state is CircuitState.HALF_OPEN
            and before[1] in {CircuitState.OPEN, CircuitState.HALF_OPEN}
            and gen - before[0] in {0, 1}
        )
        if trial:
            trials.enter(gen)
        try:
            for _ in range(20):  # hold the permit a little, letting other threads in
                pass
            if n % 97 == 0:
                raise KeyboardInterrupt  # an ignored outcome
            # The dependency flaps: down for bursts of calls, then up again.
            if (n // 400) % 2 == 1 and n % 7 != 0:
                raise ConnectionRefusedError("flapping")
            return "ok"
        finally:
            if trial:
                trials.leave(gen)

    def worker(tally: Tally) -> None:
        try:
            for _ in range(CALLS):
                tally.attempts += 1
                try:
                    breaker.call(dependency, _reading(breaker))
                except CircuitOpenError:
                    tally.rejections += 1
                    fake_clock.advance(0.001)  # time passes for rejected callers too
                except ConnectionRefusedError:
                    tally.failures += 1
                except KeyboardInterrupt:
                    tally.ignored += 1
                else:
                    tally.successes += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(tally,), name=f"caller-{i}")
        for i, tally in enumerate(tallies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not [t.name for t in threads if t.is_alive()], "deadlock: threads still running"
    assert errors == []

    # Half-open trials never exceeded the permits, and there were plenty of them.
    assert trials.peak <= MAX_TRIALS
    assert trials.seen > 10, (events.counts, trials.seen)
    assert events.counts["to half_open"] > 10
    assert events.counts["to open"] > 10
    assert events.counts["to closed"] > 0

    # Every attempt is exactly one of: success, failure, ignored, rejection.
    for tally in tallies:
        assert tally.attempts == CALLS
        assert tally.successes + tally.failures + tally.ignored + tally.rejections == CALLS
    total = Tally(
        attempts=sum(t.attempts for t in tallies),
        successes=sum(t.successes for t in tallies),
        failures=sum(t.failures for t in tallies),
        ignored=sum(t.ignored for t in tallies),
        rejections=sum(t.rejections for t in tallies),
    )
    assert total.attempts == THREADS * CALLS
    assert calls == total.successes + total.failures + total.ignored
    assert total.rejections > 0
    assert total.failures > 0
    assert total.successes > 0

    # The listener saw each of them once.
    assert events.counts[Outcome.SUCCESS.value] == total.successes
    assert events.counts[Outcome.FAILURE.value] == total.failures
    assert events.counts[Outcome.IGNORED.value] == total.ignored
    assert events.counts["rejected"] == total.rejections
    snap = breaker.snapshot()
    assert snap.rejected == total.rejections
    assert snap.half_open_calls <= MAX_TRIALS


def _all_inside_at_once(breaker: CircuitBreaker) -> list[int]:
    """Run THREADS calls through ``breaker`` that can only finish if all run at once."""
    barrier = threading.Barrier(THREADS, timeout=JOIN_TIMEOUT)
    passed: list[int] = []

    def meet(i: int) -> int:
        barrier.wait()  # every thread must be inside the protected call to get past this
        return i

    def worker(i: int) -> None:
        passed.append(breaker.call(meet, i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert not barrier.broken
    return sorted(passed)


@pytest.mark.parametrize(
    "config",
    [BreakerConfig(), BreakerConfig(failure_rate=0.5)],
    ids=["fast path", "windowed"],
)
def test_calls_run_concurrently_because_no_lock_is_held_while_they_run(
    config: BreakerConfig, fake_clock: FakeClock,
) -> None:
    """Calls through one breaker run at the same time: no lock is held around them."""
    breaker = CircuitBreaker("db", config, clock=fake_clock)
    assert _all_inside_at_once(breaker) == list(range(THREADS))


def _race_into_half_open(breaker: CircuitBreaker) -> tuple[int, int]:
    """THREADS callers race for the trial permits; return (admitted, rejected)."""
    start = threading.Barrier(THREADS, timeout=JOIN_TIMEOUT)
    release = threading.Event()
    settled = threading.Condition()
    admitted: list[int] = []
    rejected: list[int] = []

    def trial(i: int) -> None:
        with settled:
            admitted.append(i)
            settled.notify_all()
        assert release.wait(JOIN_TIMEOUT)

    def worker(i: int) -> None:
        start.wait()
        try:
            breaker.call(trial, i)
        except CircuitOpenError:
            with settled:
                rejected.append(i)
                settled.notify_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    with settled:  # every thread admitted (and parked in the call) or rejected
        assert settled.wait_for(lambda: len(admitted) + len(rejected) == THREADS, JOIN_TIMEOUT)
    in_flight = breaker.snapshot().half_open_calls
    release.set()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert in_flight == len(admitted)
    return len(admitted), len(rejected)


def test_many_threads_racing_into_half_open_get_exactly_the_permits(fake_clock: FakeClock) -> None:
    """Threads racing into half-open get exactly half_open_max_calls permits, again and again."""
    breaker = CircuitBreaker(
        "db",
        BreakerConfig(failure_threshold=1, open_for=1, half_open_max_calls=MAX_TRIALS),
        clock=fake_clock,
    )
    for _ in range(50):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(_refuse)
        assert breaker.snapshot().state is CircuitState.OPEN
        fake_clock.advance(1)
        assert _race_into_half_open(breaker) == (MAX_TRIALS, THREADS - MAX_TRIALS)
        assert breaker.snapshot().state is CircuitState.CLOSED


def _refuse() -> None:
    raise ConnectionRefusedError("refused")
