"""CircuitBreaker, sync: forms, trip rules, recovery, manual control, events, errors."""

from __future__ import annotations

import inspect
import logging

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

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def refused() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


def ok() -> str:
    return "ok"


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(refused)


def make(clock: FakeClock, **config: object) -> CircuitBreaker:
    return CircuitBreaker("remote", BreakerConfig(**config), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --------------------------------------------------------------------------- forms


def test_decorator_keeps_name_doc_and_signature(clock: FakeClock) -> None:
    """@breaker returns a function that looks like the one it wraps."""
    breaker = make(clock)

    def fetch(key: str, *, timeout: float = 1.0) -> str:
        """Fetch a key."""
        return key

    wrapped = breaker(fetch)
    assert wrapped.__name__ == "fetch"
    assert wrapped.__doc__ == "Fetch a key."
    assert inspect.signature(wrapped) == inspect.signature(fetch)
    assert "timeout" in str(inspect.signature(wrapped))
    assert wrapped("a", timeout=2) == "a"


@pytest.mark.parametrize("bad", [None, 42, "name"])
def test_decorating_a_non_callable_says_what_was_passed(clock: FakeClock, bad: object) -> None:
    """@breaker on something that is not callable raises TypeError naming it."""
    with pytest.raises(TypeError, match=type(bad).__name__):
        make(clock)(bad)  # type: ignore[arg-type]


def test_constructor_rejects_bad_name_and_config(clock: FakeClock) -> None:
    """An empty name or a config that is not a BreakerConfig is refused."""
    with pytest.raises(TypeError, match="non-empty str"):
        CircuitBreaker("", clock=clock)
    with pytest.raises(TypeError, match="BreakerConfig"):
        CircuitBreaker("x", {"failure_threshold": 3}, clock=clock)  # type: ignore[arg-type]


def test_call_passes_arguments_and_returns_the_result(clock: FakeClock) -> None:
    """call(fn, *args, **kwargs) returns fn's result."""

    def add(a: int, *, b: int) -> int:
        return a + b

    assert make(clock).call(add, 1, b=2) == 3


def test_with_block_records_the_outcome(clock: FakeClock) -> None:
    """``with breaker:`` counts failures raised in the block, and successes."""
    breaker = make(clock, failure_threshold=2)
    with pytest.raises(ConnectionResetError), breaker:
        raise ConnectionResetError
    assert breaker.snapshot().consecutive_failures == 1
    with breaker:
        pass
    assert breaker.snapshot().consecutive_failures == 0


def test_nested_with_blocks_pair_up(clock: FakeClock) -> None:
    """Nested ``with breaker:`` blocks each record their own outcome."""
    breaker = make(clock, failure_threshold=3)

    def outer_fails() -> None:
        with breaker:
            with breaker:
                pass
            raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        outer_fails()
    assert breaker.snapshot().consecutive_failures == 1


def test_exit_without_enter_is_a_clear_error(clock: FakeClock) -> None:
    """__exit__ with no matching __enter__ raises RuntimeError saying how to use it."""
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        make(clock).__exit__(None, None, None)


def test_with_block_on_an_open_circuit_does_not_run(clock: FakeClock) -> None:
    """An open circuit rejects ``with breaker:`` before the block runs."""
    breaker = make(clock, failure_threshold=1)
    fail(breaker)
    ran = False
    with pytest.raises(CircuitOpenError), breaker:
        ran = True
    assert not ran


# --------------------------------------------------------------------- trip rules


def test_consecutive_failures_open_the_circuit(clock: FakeClock) -> None:
    """failure_threshold consecutive failures open it; a success in between resets."""
    breaker = make(clock, failure_threshold=3)
    fail(breaker, 2)
    breaker.call(ok)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_open_circuit_rejects_without_calling(clock: FakeClock) -> None:
    """While OPEN, calls raise CircuitOpenError and never reach the function."""
    breaker = make(clock, failure_threshold=1)
    fail(breaker)
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1

    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker.call(counted)
    assert calls == 0
    assert breaker.snapshot().rejected == 3


def test_error_message_says_which_circuit_why_and_when(clock: FakeClock) -> None:
    """CircuitOpenError names the circuit, the reason with the last error, and the wait."""
    breaker = CircuitBreaker("gdrive", BreakerConfig(open_for=60), clock=clock)
    fail(breaker, 5)
    clock.advance(15)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    err = info.value
    assert err.name == "gdrive"
    assert err.state is OPEN
    assert err.retry_after == 45
    message = str(err)
    assert "circuit 'gdrive' is OPEN" in message
    assert "5 consecutive failures; last: ConnectionRefusedError(111" in message
    assert "a trial call is allowed in 45.0 s" in message


def test_failure_rate_over_count_window(clock: FakeClock) -> None:
    """The rate rule waits for minimum_calls, then judges the last `window` calls."""
    breaker = make(clock, failure_rate=0.5, window=4, minimum_calls=4)
    fail(breaker, 3)
    assert breaker.state is CLOSED  # 3 calls < minimum_calls
    breaker.call(ok)
    assert breaker.state is OPEN  # 3 of 4 failed
    assert "failure rate 75%" in (breaker.snapshot().reason or "")


def test_count_window_forgets_old_calls(clock: FakeClock) -> None:
    """Only the last `window` outcomes count."""
    breaker = make(clock, failure_rate=0.5, window=4, minimum_calls=4)
    fail(breaker)
    for _ in range(4):
        breaker.call(ok)
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.failure_rate) == (4, 0, 0.0)


def test_time_window_expires_with_the_clock(clock: FakeClock) -> None:
    """A time window holds the calls of the last window_seconds only."""
    breaker = make(clock, failure_rate=0.5, window_seconds=10, minimum_calls=3)
    fail(breaker, 2)
    clock.advance(11)
    assert breaker.snapshot().calls == 0
    breaker.call(ok)
    fail(breaker)
    assert breaker.state is CLOSED  # 2 calls in the window
    fail(breaker)
    assert breaker.state is OPEN  # 2 of 3 failed


def test_rate_raised_by_ageing_is_judged_on_the_next_success(clock: FakeClock) -> None:
    """When old successes age out of a time window, the next call sees the higher rate."""
    breaker = make(clock, failure_rate=0.5, window_seconds=10, minimum_calls=2)
    for _ in range(3):
        breaker.call(ok)
    clock.advance(5)
    fail(breaker, 2)
    assert breaker.state is CLOSED  # 2 of 5 failed
    clock.advance(6)  # the three successes age out
    breaker.call(ok)
    assert breaker.state is OPEN  # 2 of 3 failed


def test_success_completing_minimum_calls_is_judged(clock: FakeClock) -> None:
    """The success that brings the window to minimum_calls can open the circuit."""
    breaker = make(clock, failure_rate=0.5, window=10, minimum_calls=4)
    fail(breaker, 3)
    breaker.call(ok)
    assert breaker.state is OPEN


def test_slow_calls_open_the_circuit(clock: FakeClock) -> None:
    """Successful calls slower than slow_call_duration count towards slow_call_rate."""
    breaker = make(clock, slow_call_duration=1.0, slow_call_rate=0.5, window=4, minimum_calls=2)

    def slow() -> str:
        clock.advance(2)
        return "late"

    breaker.call(ok)
    assert breaker.call(slow) == "late"
    assert breaker.state is OPEN
    assert breaker.snapshot().slow_calls == 1
    assert "slow call rate" in (breaker.snapshot().reason or "")


# ------------------------------------------------------------------------ recovery


def test_first_call_after_open_for_is_a_trial(clock: FakeClock) -> None:
    """OPEN turns HALF_OPEN on the first call after open_for; a success closes it."""
    breaker = make(clock, failure_threshold=1, open_for=30)
    fail(breaker)
    clock.advance(29.9)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    clock.advance(0.1)
    assert breaker.state is OPEN  # no background timer: the call decides
    assert breaker.snapshot().retry_after == 0
    assert breaker.call(ok) == "ok"
    assert breaker.state is CLOSED


def test_failed_trial_reopens(clock: FakeClock) -> None:
    """A failed trial call re-opens the circuit for another open_for."""
    breaker = make(clock, failure_threshold=1, open_for=30)
    fail(breaker)
    clock.advance(30)
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.snapshot().retry_after == 30
    assert "trial call failed" in (breaker.snapshot().reason or "")


def test_half_open_admits_exactly_the_permits_and_rejects_the_rest(clock: FakeClock) -> None:
    """HALF_OPEN lets half_open_max_calls trials in at once; others fail fast."""
    breaker = make(clock, failure_threshold=1, open_for=5, half_open_max_calls=2)
    fail(breaker)
    clock.advance(5)
    with breaker, breaker:
        assert breaker.snapshot().half_open_calls == 2
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(ok)
        assert info.value.state is HALF_OPEN
        assert info.value.retry_after is None  # no half_open_timeout: no time to promise
    assert breaker.state is CLOSED


def test_success_threshold_needs_that_many_trial_successes(clock: FakeClock) -> None:
    """The circuit closes only after success_threshold successful trials."""
    breaker = make(clock, failure_threshold=1, open_for=5, success_threshold=3)
    fail(breaker)
    clock.advance(5)
    breaker.call(ok)
    breaker.call(ok)
    assert breaker.state is HALF_OPEN
    breaker.call(ok)
    assert breaker.state is CLOSED


def test_half_open_timeout_reopens_when_trials_hang(clock: FakeClock) -> None:
    """A trial that does not finish within half_open_timeout lets the circuit re-open."""
    breaker = make(clock, failure_threshold=1, open_for=5, half_open_timeout=10)
    fail(breaker)
    clock.advance(5)
    breaker.__enter__()  # a trial that hangs
    clock.advance(4)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.retry_after == 6
    clock.advance(6)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    assert breaker.state is OPEN
    breaker.__exit__(None, None, None)  # the hung trial's late success is stale
    assert breaker.state is OPEN


def test_open_period_doubles_up_to_open_for_max_and_resets_on_close(clock: FakeClock) -> None:
    """Each re-open from HALF_OPEN doubles open_for up to open_for_max; closing resets it."""
    breaker = make(clock, failure_threshold=1, open_for=10, open_for_max=35)
    fail(breaker)
    periods = []
    for _ in range(3):
        periods.append(breaker.snapshot().retry_after)
        clock.advance(periods[-1] or 0)
        fail(breaker)
    periods.append(breaker.snapshot().retry_after)
    assert periods == [10, 20, 35, 35]
    clock.advance(35)
    breaker.call(ok)
    fail(breaker)
    assert breaker.snapshot().retry_after == 10


# ------------------------------------------------------------------- what counts


def test_ignored_outcomes_neither_count_nor_reset(clock: FakeClock) -> None:
    """A cancellation-like BaseException leaves the consecutive count alone."""
    breaker = make(clock, failure_threshold=2)
    fail(breaker)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    assert breaker.snapshot().consecutive_failures == 1
    fail(breaker)
    assert breaker.state is OPEN


def test_ignored_trial_gives_its_permit_back(clock: FakeClock) -> None:
    """An ignored trial outcome releases the permit without deciding anything."""
    breaker = make(clock, failure_threshold=1, open_for=5)
    fail(breaker)
    clock.advance(5)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    snap = breaker.snapshot()
    assert (snap.state, snap.half_open_calls) == (HALF_OPEN, 0)
    breaker.call(ok)
    assert breaker.state is CLOSED


def test_permanent_errors_are_ignored_unless_count_permanent(clock: FakeClock) -> None:
    """A PERMANENT error says nothing about the remote, unless configured to count."""

    def not_found() -> None:
        raise FileNotFoundError(2, "No such file")

    lenient = make(clock, failure_threshold=1)
    strict = make(clock, failure_threshold=1, count_permanent=True)
    for breaker in (lenient, strict):
        with pytest.raises(FileNotFoundError):
            breaker.call(not_found)
    assert lenient.state is CLOSED
    assert strict.state is OPEN


def test_stale_success_cannot_close_a_circuit_that_opened_meanwhile(clock: FakeClock) -> None:
    """A call admitted before the circuit opened, finishing after, changes nothing."""
    breaker = make(clock, failure_threshold=1)
    breaker.__enter__()  # a slow call, admitted while CLOSED
    fail(breaker)
    assert breaker.state is OPEN
    breaker.__exit__(None, None, None)
    assert breaker.state is OPEN


def test_stale_failure_cannot_reopen_a_circuit_that_closed_meanwhile(clock: FakeClock) -> None:
    """A failure from before a reset does not count against the new CLOSED state."""
    breaker = make(clock, failure_threshold=1)
    breaker.__enter__()
    breaker.reset()
    error = ConnectionResetError()
    breaker.__exit__(type(error), error, None)
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == 0


# --------------------------------------------------------------- manual control


def test_force_open_rejects_everything_until_reset(clock: FakeClock) -> None:
    """FORCED_OPEN rejects with retry_after None, whatever the time."""
    breaker = make(clock)
    breaker.force_open()
    clock.advance(10_000)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    assert info.value.state is CircuitState.FORCED_OPEN
    assert info.value.retry_after is None
    assert "reset()" in str(info.value)
    breaker.reset()
    assert breaker.call(ok) == "ok"
    assert breaker.snapshot().rejected == 0


def test_disabled_permits_all_and_records_nothing(clock: FakeClock) -> None:
    """DISABLED lets failures through without counting them."""
    breaker = make(clock, failure_threshold=1)
    breaker.disable()
    fail(breaker, 5)
    snap = breaker.snapshot()
    assert (snap.state, snap.consecutive_failures) == (CircuitState.DISABLED, 0)


def test_metrics_only_records_but_never_trips(clock: FakeClock) -> None:
    """METRICS_ONLY counts outcomes but never opens."""
    breaker = make(clock, failure_rate=0.5, window=4, minimum_calls=1)
    breaker.metrics_only()
    fail(breaker, 4)
    snap = breaker.snapshot()
    assert (snap.state, snap.failures, snap.failure_rate) == (CircuitState.METRICS_ONLY, 4, 1.0)


def test_snapshot_of_an_open_circuit(clock: FakeClock) -> None:
    """snapshot() reports the state, counts, when it opened and when a trial comes."""
    clock.advance(100)
    breaker = make(clock, failure_rate=0.5, window=10, minimum_calls=2, open_for=30)
    breaker.call(ok)
    fail(breaker)
    clock.advance(5)
    snap = breaker.snapshot()
    assert snap.name == "remote"
    assert snap.state is OPEN
    assert (snap.calls, snap.failures, snap.failure_rate) == (2, 1, 0.5)
    assert snap.consecutive_failures == 1
    assert snap.opened_at == 100
    assert snap.retry_after == 25
    assert snap.reason is not None
    assert "failure rate 50%" in snap.reason


# ------------------------------------------------------------------------ events


def test_listeners_receive_transitions_rejections_and_outcomes(clock: FakeClock) -> None:
    """Every transition, rejection and recorded outcome reaches the listeners."""
    events: list[Event] = []
    breaker = CircuitBreaker(
        "api",
        BreakerConfig(failure_threshold=1, open_for=5),
        clock=clock,
        listeners=[events.append],
    )
    breaker.call(ok)
    fail(breaker)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    clock.advance(5)
    breaker.call(ok)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "CallRecorded",
        "CallRecorded",
        "StateChanged",
        "CallRejected",
        "StateChanged",
        "CallRecorded",
        "StateChanged",
    ]
    recorded = [e for e in events if isinstance(e, CallRecorded)]
    assert [e.outcome for e in recorded] == [Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS]
    assert isinstance(recorded[1].error, ConnectionRefusedError)
    changes = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    rejected = next(e for e in events if isinstance(e, CallRejected))
    assert (rejected.name, rejected.state, rejected.retry_after) == ("api", OPEN, 5)


def test_a_raising_listener_is_logged_once_and_never_breaks_the_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener's exception is logged once; the call's result is unaffected."""

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    seen: list[Event] = []
    breaker = CircuitBreaker("api", clock=clock, listeners=[broken, seen.append])
    with caplog.at_level(logging.ERROR, logger="resilience"):
        assert breaker.call(ok) == "ok"
        assert breaker.call(ok) == "ok"
    assert len(seen) == 2  # later listeners still run
    logged = [r for r in caplog.records if "listener" in r.getMessage()]
    assert len(logged) == 1
    assert "unaffected" in logged[0].getMessage()


def test_repr_reads_back(clock: FakeClock) -> None:
    """repr shows the name and state."""
    assert repr(make(clock)) == "CircuitBreaker('remote', state=CLOSED)"
