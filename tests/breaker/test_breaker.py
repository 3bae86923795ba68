"""CircuitBreaker, synchronously: the forms, the trip rules, recovery, manual control, events."""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import logging
import pickle
from collections.abc import Callable

import pytest

from resilience import (
    BreakerConfig,
    BreakerSnapshot,
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
FORCED_OPEN, DISABLED = CircuitState.FORCED_OPEN, CircuitState.DISABLED
METRICS_ONLY = CircuitState.METRICS_ONLY


def refused() -> None:
    raise ConnectionRefusedError("refused")


def ok() -> str:
    return "ok"


def interrupted() -> None:
    raise KeyboardInterrupt


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    """Make ``times`` calls through ``breaker`` that fail with ConnectionRefusedError."""
    for _ in range(times):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(refused)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.call(ok) == "ok"


def ignore(breaker: CircuitBreaker) -> None:
    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)


def make(clock: FakeClock, name: str = "db", **config: object) -> CircuitBreaker:
    return CircuitBreaker(name, BreakerConfig.model_validate(config), clock=clock)


class Held:
    """A call admitted through ``with breaker:`` in its own context, finished on demand."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.ctx = contextvars.copy_context()
        self.ctx.run(breaker.__enter__)

    def succeed(self) -> None:
        self.ctx.run(self.breaker.__exit__, None, None, None)

    def fail(self, exc: BaseException | None = None) -> None:
        error = exc if exc is not None else ConnectionRefusedError("refused")
        self.ctx.run(self.breaker.__exit__, type(error), error, None)


def rejection(breaker: CircuitBreaker) -> CircuitOpenError:
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(ok)
    return info.value


# ------------------------------------------------------------------------------ the forms


def test_decorator_keeps_name_doc_signature_and_annotations(fake_clock: FakeClock) -> None:
    """A decorated function keeps its name, docstring, signature and annotations."""
    breaker = make(fake_clock)

    def fetch(bucket: str, key: str, *, version: int = 0) -> bytes:
        """Fetch an object."""
        return f"{bucket}/{key}@{version}".encode()

    wrapped = breaker(fetch)
    assert wrapped.__name__ == "fetch"
    assert wrapped.__doc__ == "Fetch an object."
    assert wrapped.__qualname__ == fetch.__qualname__
    assert inspect.signature(wrapped) == inspect.signature(fetch)
    assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]
    assert wrapped("b", "k", version=2) == b"b/k@2"


def test_decorated_function_failures_count_and_open_the_circuit(fake_clock: FakeClock) -> None:
    """Failures of a decorated function open the circuit, and then it is not called at all."""
    breaker = make(fake_clock, failure_threshold=2)
    calls: list[int] = []

    @breaker
    def flaky(n: int) -> None:
        calls.append(n)
        raise ConnectionError(n)

    for n in range(2):
        with pytest.raises(ConnectionError):
            flaky(n)
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError):
        flaky(99)
    assert calls == [0, 1]


@pytest.mark.parametrize("bad", [None, 42, "fetch", ["a"]])
def test_decorating_a_non_callable_raises_type_error_saying_what_was_passed(
    fake_clock: FakeClock, bad: object
) -> None:
    """Decorating a non-callable raises TypeError naming the breaker and what was passed."""
    breaker = make(fake_clock)
    with pytest.raises(TypeError) as info:
        breaker(bad)  # type: ignore[arg-type]
    message = str(info.value)
    assert repr(bad) in message
    assert type(bad).__name__ in message
    assert "'db'" in message


@pytest.mark.parametrize("bad", ["", None, 3])
def test_breaker_name_must_be_a_non_empty_string(bad: object) -> None:
    """A breaker's name must be a non-empty str."""
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        CircuitBreaker(bad)  # type: ignore[arg-type]


def test_breaker_config_must_be_a_breaker_config() -> None:
    """A dict for the config is refused with a hint to build a BreakerConfig."""
    with pytest.raises(TypeError, match=r"must be a BreakerConfig, got dict.*BreakerConfig\("):
        CircuitBreaker("db", {"failure_threshold": 3})  # type: ignore[arg-type]


def test_call_passes_positional_and_keyword_arguments_and_returns_the_result(
    fake_clock: FakeClock,
) -> None:
    """call() passes positional and keyword arguments through and returns the result."""
    breaker = make(fake_clock)

    def add(a: int, b: int, *, scale: int = 1) -> int:
        return (a + b) * scale

    assert breaker.call(add, 1, 2, scale=10) == 30


def test_call_reraises_the_original_failure_unchanged(fake_clock: FakeClock) -> None:
    """call() re-raises the very exception the function raised, and counts it."""
    breaker = make(fake_clock)
    error = ConnectionRefusedError("nope")

    def boom() -> None:
        raise error

    with pytest.raises(ConnectionRefusedError) as info:
        breaker.call(boom)
    assert info.value is error
    assert breaker.snapshot().consecutive_failures == 1


def test_with_block_records_success_and_failure_and_never_swallows(fake_clock: FakeClock) -> None:
    """A with block records its success or failure, never swallows the error, and can trip."""
    breaker = make(fake_clock, failure_threshold=3)
    with breaker:
        pass
    for _ in range(2):
        with pytest.raises(TimeoutError), breaker:
            raise TimeoutError("slow")
    assert breaker.snapshot().consecutive_failures == 2
    with breaker:
        pass
    assert breaker.snapshot().consecutive_failures == 0
    for _ in range(3):
        with pytest.raises(TimeoutError), breaker:
            raise TimeoutError("slow")
    assert breaker.state is OPEN


def test_with_block_on_an_open_circuit_does_not_run_its_body(fake_clock: FakeClock) -> None:
    """On an open circuit, entering a with block raises CircuitOpenError before its body runs."""
    breaker = make(fake_clock, failure_threshold=1)
    fail(breaker)
    ran = False

    def body() -> None:
        nonlocal ran
        with breaker:
            ran = True

    with pytest.raises(CircuitOpenError):
        body()
    assert not ran


def test_nested_with_blocks_pair_each_exit_with_its_own_enter(fake_clock: FakeClock) -> None:
    """Nested with blocks pair each exit with its own enter, half-open and closed alike."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    fail(breaker)
    fake_clock.advance(10)
    outer = Held(breaker)  # the trial call
    assert breaker.state is HALF_OPEN
    # A nested block in the same context as the trial: rejected (one permit), and the
    # rejection must not consume the trial's token.
    with pytest.raises(CircuitOpenError):
        outer.ctx.run(breaker.__enter__)
    outer.succeed()
    assert breaker.state is CLOSED

    breaker = make(fake_clock, failure_threshold=2)
    counts: list[int] = []

    def nested() -> None:
        with breaker:
            with breaker:
                pass
            counts.append(breaker.snapshot().consecutive_failures)
            with pytest.raises(ConnectionError), breaker:
                raise ConnectionError("inner")
            counts.append(breaker.snapshot().consecutive_failures)
            raise ConnectionError("outer")

    with pytest.raises(ConnectionError, match="outer"):
        nested()
    assert counts == [0, 1]
    assert breaker.state is OPEN
    # Every enter was paired: one more exit is a mismatch.
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        breaker.__exit__(None, None, None)


def test_exit_without_enter_is_a_clear_error(fake_clock: FakeClock) -> None:
    """An exit without an enter raises a RuntimeError naming the breaker, and harms nothing."""
    breaker = make(fake_clock)
    with pytest.raises(RuntimeError) as info:
        breaker.__exit__(None, None, None)
    assert "'db'" in str(info.value)
    assert "without a matching __enter__" in str(info.value)
    # The breaker is unharmed.
    succeed(breaker)
    assert breaker.snapshot().consecutive_failures == 0


def test_exit_in_another_context_than_enter_is_a_clear_error(fake_clock: FakeClock) -> None:
    """An exit in another context than its enter is a RuntimeError, not a stolen permit."""
    breaker = make(fake_clock)
    contextvars.copy_context().run(breaker.__enter__)
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        breaker.__exit__(None, None, None)


# ---------------------------------------------------------------------- consecutive rule


def test_consecutive_failures_open_the_circuit_at_the_threshold(fake_clock: FakeClock) -> None:
    """The fifth consecutive failure, the default threshold, opens the circuit."""
    breaker = make(fake_clock)  # default: 5
    fail(breaker, 4)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.snapshot().consecutive_failures == 5


def test_a_success_resets_the_consecutive_count(fake_clock: FakeClock) -> None:
    """A success resets the consecutive failure count, so only an unbroken run trips."""
    breaker = make(fake_clock, failure_threshold=3)
    for _ in range(5):
        fail(breaker, 2)
        succeed(breaker)
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == 0
    fail(breaker, 3)
    assert breaker.state is OPEN


def test_open_circuit_rejects_at_once_without_calling(fake_clock: FakeClock) -> None:
    """An open circuit rejects calls at once without calling the function, and counts them."""
    breaker = make(fake_clock, failure_threshold=2, open_for=30)
    fail(breaker, 2)
    called: list[int] = []

    def spy() -> None:
        called.append(1)

    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker.call(spy)
    assert called == []
    assert breaker.snapshot().rejected == 3


def test_open_error_says_which_circuit_why_and_when(fake_clock: FakeClock) -> None:
    """CircuitOpenError names the circuit, its state, why it opened and when a trial is allowed."""
    breaker = make(fake_clock, name="s3-eu", open_for=30)
    fail(breaker, 5)
    fake_clock.advance(12)
    error = rejection(breaker)
    assert error.name == "s3-eu"
    assert error.state is OPEN
    assert error.retry_after == pytest.approx(18.0)
    assert error.reason == "5 consecutive failures; last: ConnectionRefusedError('refused')"
    assert str(error) == (
        "circuit 's3-eu' is OPEN: 5 consecutive failures; last: "
        "ConnectionRefusedError('refused'); a trial call is allowed in 18.0 s"
    )


def test_open_error_survives_pickling(fake_clock: FakeClock) -> None:
    """A CircuitOpenError pickled and unpickled keeps its fields and its message."""
    breaker = make(fake_clock, failure_threshold=1)
    fail(breaker)
    error = rejection(breaker)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.name, copy.state, copy.retry_after, copy.reason) == (
        error.name,
        error.state,
        error.retry_after,
        error.reason,
    )
    assert str(copy) == str(error)


def test_open_error_says_a_trial_is_allowed_now_when_retry_after_is_zero() -> None:
    """With retry_after 0, the message says a trial call is allowed now."""
    error = CircuitOpenError("db", OPEN, 0.0, "3 consecutive failures")
    assert str(error) == "circuit 'db' is OPEN: 3 consecutive failures; a trial call is allowed now"


# -------------------------------------------------------------------------- rate rules


def test_failure_rate_over_a_count_window_waits_for_minimum_calls(fake_clock: FakeClock) -> None:
    """The failure rate is judged only once the window holds minimum_calls outcomes."""
    breaker = make(fake_clock, failure_rate=0.5, window=10, minimum_calls=4)
    fail(breaker, 3)  # 100 % failures, but only 3 outcomes
    assert breaker.state is CLOSED
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.failure_rate) == (3, 3, 1.0)
    succeed(breaker)  # 3 of 4 failed: judged now that minimum_calls is reached
    assert breaker.state is OPEN
    reason = breaker.snapshot().reason
    assert reason is not None
    assert reason.startswith("failure rate 75% over the last 4 calls reached failure_rate=0.5")


def test_a_rate_breaker_with_a_short_window_and_no_minimum_calls_trips(
    fake_clock: FakeClock,
) -> None:
    """A count window of 5 calls is judged once full: its default minimum_calls is 5."""
    breaker = make(fake_clock, failure_rate=0.5, window=5)
    fail(breaker, 4)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.snapshot().reason == (
        "failure rate 100% over the last 5 calls reached failure_rate=0.5; "
        "last: ConnectionRefusedError('refused')"
    )


def test_failure_rate_below_the_threshold_keeps_the_circuit_closed(fake_clock: FakeClock) -> None:
    """A failure rate below failure_rate keeps the circuit closed however long it runs."""
    breaker = make(fake_clock, failure_rate=0.5, window=10, minimum_calls=4)
    for _ in range(10):
        succeed(breaker, 2)
        fail(breaker)  # 1 in 3: below 0.5
        assert breaker.state is CLOSED
    snap = breaker.snapshot()
    assert snap.calls == 10
    assert snap.failures in {3, 4}


def test_rate_mode_has_no_consecutive_rule(fake_clock: FakeClock) -> None:
    """Setting failure_rate alone turns the consecutive-failure rule off."""
    breaker = make(fake_clock, failure_rate=1.0, window=100, minimum_calls=50)
    succeed(breaker)
    fail(breaker, 40)
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == 40


def test_count_window_forgets_the_oldest_outcomes(fake_clock: FakeClock) -> None:
    """A count window forgets its oldest outcome as each new one arrives."""
    breaker = make(fake_clock, failure_rate=0.5, window=4, minimum_calls=4)
    fail(breaker)
    succeed(breaker, 3)  # [F S S S]: 25 %
    assert breaker.state is CLOSED
    fail(breaker)  # [S S S F]: the first failure fell out
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures) == (4, 1)
    assert breaker.state is CLOSED
    fail(breaker)  # [S S F F]: 50 %
    assert breaker.state is OPEN


def test_both_rules_together_trip_on_whichever_comes_first(fake_clock: FakeClock) -> None:
    """With both rules set, the consecutive rule trips before the rate rule has enough calls."""
    breaker = make(fake_clock, failure_rate=0.9, window=100, minimum_calls=100, failure_threshold=3)
    fail(breaker, 3)
    assert breaker.state is OPEN
    reason = breaker.snapshot().reason
    assert reason is not None
    assert reason.startswith("3 consecutive failures")


def test_time_window_outcomes_expire_as_the_clock_advances(fake_clock: FakeClock) -> None:
    """Outcomes in a time window expire as the clock moves past it."""
    breaker = make(fake_clock, failure_rate=0.5, window_seconds=10, minimum_calls=4)
    fail(breaker, 3)
    assert breaker.snapshot().calls == 3
    fake_clock.advance(5)
    assert breaker.snapshot().calls == 3
    fake_clock.advance(6)
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.failure_rate) == (0, 0, None)
    succeed(breaker)  # had the failures not expired, 3 of 4 would trip it
    assert breaker.state is CLOSED
    assert breaker.snapshot().calls == 1


def test_time_window_rate_raised_by_ageing_is_judged_on_the_next_success(
    fake_clock: FakeClock,
) -> None:
    """A rate raised by successes ageing out of a time window is judged on the next call."""
    breaker = make(fake_clock, failure_rate=0.5, window_seconds=10, minimum_calls=2)
    succeed(breaker, 2)
    fake_clock.advance(5)
    fail(breaker)  # 1 of 3
    assert breaker.state is CLOSED
    fake_clock.advance(5.5)  # the two successes age out: 1 of 1
    assert breaker.snapshot().failure_rate == 1.0
    assert breaker.state is CLOSED  # nothing judged without a call
    succeed(breaker)  # 1 of 2: 50 %
    assert breaker.state is OPEN
    reason = breaker.snapshot().reason
    assert reason is not None
    assert "over the last 10 s (2 calls)" in reason


def test_slow_calls_open_the_circuit_by_rate(fake_clock: FakeClock) -> None:
    """Calls slower than slow_call_duration open the circuit once their rate is reached."""
    breaker = make(
        fake_clock, slow_call_duration=1.0, slow_call_rate=0.5, window=10, minimum_calls=4
    )

    def slow() -> str:
        fake_clock.advance(2.0)
        return "late"

    def fast() -> str:
        fake_clock.advance(0.5)
        return "quick"

    assert breaker.call(fast) == "quick"
    assert breaker.call(slow) == "late"
    assert breaker.call(fast) == "quick"
    snap = breaker.snapshot()
    assert (snap.calls, snap.slow_calls, snap.failures) == (3, 1, 0)
    assert breaker.call(slow) == "late"  # 2 slow of 4
    assert breaker.state is OPEN
    reason = breaker.snapshot().reason
    assert reason is not None
    assert "slow call rate 50%" in reason
    assert "slower than 1 s" in reason


def test_a_call_exactly_at_the_slow_duration_is_not_slow(fake_clock: FakeClock) -> None:
    """A call that takes exactly slow_call_duration is not slow."""
    breaker = make(
        fake_clock, slow_call_duration=1.0, slow_call_rate=1.0, window=5, minimum_calls=1
    )

    def exactly() -> None:
        fake_clock.advance(1.0)

    breaker.call(exactly)
    assert breaker.state is CLOSED
    assert breaker.snapshot().slow_calls == 0


# ----------------------------------------------------------------------------- recovery


def test_open_becomes_half_open_on_the_first_call_after_open_for(fake_clock: FakeClock) -> None:
    """After open_for, the first call is a half-open trial, and its success closes the circuit."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    fail(breaker)
    opened_at = fake_clock.monotonic()
    assert breaker.snapshot().opened_at == opened_at
    fake_clock.advance(9.5)
    assert rejection(breaker).retry_after == pytest.approx(0.5)
    fake_clock.advance(0.5)
    assert breaker.state is OPEN  # no call yet, no background thread
    assert breaker.snapshot().retry_after == 0.0
    seen: list[CircuitState] = []

    def probe() -> str:
        seen.append(breaker.state)
        return "up"

    assert breaker.call(probe) == "up"
    assert seen == [HALF_OPEN]
    assert breaker.state is CLOSED
    snap = breaker.snapshot()
    assert (snap.opened_at, snap.reason, snap.retry_after) == (None, None, 0.0)


def test_failed_trial_reopens_for_another_open_period(fake_clock: FakeClock) -> None:
    """A failed half-open trial re-opens the circuit for another open period."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    fail(breaker)
    fake_clock.advance(10)
    fail(breaker)
    assert breaker.state is OPEN
    snap = breaker.snapshot()
    assert snap.opened_at == fake_clock.monotonic()
    assert snap.retry_after == 10.0
    assert snap.reason == "trial call failed: ConnectionRefusedError('refused')"


def test_half_open_admits_exactly_max_calls_and_rejects_the_rest_at_once(
    fake_clock: FakeClock,
) -> None:
    """Half-open admits exactly half_open_max_calls trials and rejects the others at once."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_max_calls=2)
    fail(breaker)
    fake_clock.advance(10)
    first, second = Held(breaker), Held(breaker)
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().half_open_calls == 2
    error = rejection(breaker)
    assert error.state is HALF_OPEN
    assert error.retry_after is None
    assert "trial calls are in flight" in str(error)
    assert "try again when they finish" in str(error)
    first.succeed()  # success_threshold=1: closes
    assert breaker.state is CLOSED
    second.fail()  # stale now: the circuit closed while it ran
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == 0


def test_a_released_permit_admits_the_next_trial(fake_clock: FakeClock) -> None:
    """A trial that succeeds short of success_threshold gives its permit to the next trial."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, success_threshold=2)
    fail(breaker)
    fake_clock.advance(10)
    trial = Held(breaker)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    trial.succeed()  # 1 of 2 successes: still half-open, permit back
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().half_open_calls == 0
    succeed(breaker)
    assert breaker.state is CLOSED


def test_success_threshold_needs_that_many_trial_successes(fake_clock: FakeClock) -> None:
    """The circuit closes only after success_threshold successful trials."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, success_threshold=3)
    fail(breaker)
    fake_clock.advance(10)
    succeed(breaker, 2)
    assert breaker.state is HALF_OPEN
    succeed(breaker)
    assert breaker.state is CLOSED


def test_a_failed_trial_forgets_earlier_trial_successes(fake_clock: FakeClock) -> None:
    """A failed trial forgets the trial successes before it."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, success_threshold=2)
    fail(breaker)
    fake_clock.advance(10)
    succeed(breaker)
    fail(breaker)
    assert breaker.state is OPEN
    fake_clock.advance(10)
    succeed(breaker)
    assert breaker.state is HALF_OPEN  # the success before the re-open does not count
    succeed(breaker)
    assert breaker.state is CLOSED


def test_slow_trial_success_reopens(fake_clock: FakeClock) -> None:
    """A successful but slow trial re-opens the circuit."""
    breaker = make(
        fake_clock,
        failure_threshold=1,
        slow_call_duration=1.0,
        slow_call_rate=1.0,
        minimum_calls=5,
        open_for=10,
    )
    fail(breaker)
    fake_clock.advance(10)

    def slow() -> str:
        fake_clock.advance(3)
        return "late"

    assert breaker.call(slow) == "late"
    assert breaker.state is OPEN
    assert breaker.snapshot().reason == "trial call was slow (3 s > 1 s)"


def test_half_open_timeout_reopens_when_trials_never_finish(fake_clock: FakeClock) -> None:
    """Trials unfinished after half_open_timeout re-open the circuit; their outcome is stale."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_timeout=5)
    fail(breaker)
    fake_clock.advance(10)
    hung = Held(breaker)
    fake_clock.advance(2)
    error = rejection(breaker)
    assert error.state is HALF_OPEN
    assert error.retry_after == pytest.approx(3.0 + 10.0)  # the rest, then the open period
    assert "try again when they finish, or in 13.0 s at the latest" in str(error)
    fake_clock.advance(3)
    error = rejection(breaker)  # the call that notices the timeout
    assert error.state is OPEN
    assert breaker.state is OPEN
    assert breaker.snapshot().reason == "no trial call finished within half_open_timeout=5 s"
    assert error.retry_after == 10.0
    hung.succeed()  # stale: cannot close the re-opened circuit
    assert breaker.state is OPEN
    fake_clock.advance(10)
    succeed(breaker)
    assert breaker.state is CLOSED


def test_open_period_doubles_on_each_reopen_up_to_open_for_max_and_resets_on_close(
    fake_clock: FakeClock,
) -> None:
    """Each re-open doubles the open period up to open_for_max; closing resets it."""
    breaker = make(fake_clock, failure_threshold=2, open_for=10, open_for_max=25)
    fail(breaker, 2)
    periods = [breaker.snapshot().retry_after]
    for _ in range(3):
        fake_clock.advance(periods[-1] or 0.0)
        fail(breaker)  # the trial fails: re-open for longer
        periods.append(breaker.snapshot().retry_after)
    assert periods == [10.0, 20.0, 25.0, 25.0]
    fake_clock.advance(24.5)
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    fake_clock.advance(0.5)
    succeed(breaker)
    assert breaker.state is CLOSED
    fail(breaker, 2)
    assert breaker.snapshot().retry_after == 10.0  # reset on close


def test_without_open_for_max_the_open_period_stays_fixed(fake_clock: FakeClock) -> None:
    """Without open_for_max, every re-open lasts open_for."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    fail(breaker)
    for _ in range(3):
        fake_clock.advance(10)
        fail(breaker)
        assert breaker.snapshot().retry_after == 10.0


# ------------------------------------------------------------------------ manual control


def test_force_open_rejects_everything_with_no_retry_after_until_reset(
    fake_clock: FakeClock,
) -> None:
    """force_open() rejects every call, with no retry_after, until reset()."""
    breaker = make(fake_clock, open_for=1)
    breaker.force_open()
    assert breaker.state is FORCED_OPEN
    fake_clock.advance(3600)
    error = rejection(breaker)
    assert error.state is FORCED_OPEN
    assert error.retry_after is None
    assert str(error) == (
        "circuit 'db' is FORCED_OPEN: forced open by force_open(); calls are rejected "
        "until reset() or another manual transition"
    )
    snap = breaker.snapshot()
    assert (snap.state, snap.retry_after, snap.rejected) == (FORCED_OPEN, None, 1)
    breaker.reset()
    assert breaker.state is CLOSED
    succeed(breaker)
    assert breaker.snapshot().rejected == 0


def test_disabled_lets_everything_through_and_records_nothing(fake_clock: FakeClock) -> None:
    """A disabled breaker lets every call through and records nothing."""
    breaker = make(fake_clock, failure_threshold=2, failure_rate=0.5, window=10, minimum_calls=1)
    breaker.disable()
    fail(breaker, 10)
    succeed(breaker)
    snap = breaker.snapshot()
    assert snap.state is DISABLED
    assert (snap.calls, snap.failures, snap.consecutive_failures) == (0, 0, 0)
    assert snap.reason == "disabled by disable()"


def test_metrics_only_records_but_never_trips(fake_clock: FakeClock) -> None:
    """A metrics-only breaker records every outcome but never trips."""
    breaker = make(fake_clock, failure_threshold=2, failure_rate=0.5, window=10, minimum_calls=1)
    breaker.metrics_only()
    fail(breaker, 6)
    succeed(breaker, 2)
    fail(breaker)
    snap = breaker.snapshot()
    assert snap.state is METRICS_ONLY
    assert (snap.calls, snap.failures, snap.consecutive_failures) == (9, 7, 1)
    assert snap.failure_rate == pytest.approx(7 / 9)


def test_manual_states_are_left_only_by_a_manual_transition(fake_clock: FakeClock) -> None:
    """A manual state is left only by another manual transition, not by outcomes."""
    breaker = make(fake_clock, failure_threshold=1)
    fail(breaker)
    breaker.metrics_only()
    fail(breaker, 3)
    assert breaker.state is METRICS_ONLY
    breaker.force_open()
    assert breaker.state is FORCED_OPEN
    breaker.disable()
    assert breaker.state is DISABLED
    breaker.reset()
    fail(breaker)
    assert breaker.state is OPEN


def test_reset_closes_and_forgets_every_count(fake_clock: FakeClock) -> None:
    """reset() closes the circuit and forgets every count."""
    breaker = make(fake_clock, failure_rate=0.5, window=10, minimum_calls=2, open_for=10)
    fail(breaker, 2)
    assert breaker.state is OPEN
    rejection(breaker)
    breaker.reset()
    assert breaker.snapshot() == BreakerSnapshot(
        name="db",
        state=CLOSED,
        calls=0,
        failures=0,
        slow_calls=0,
        failure_rate=None,
        consecutive_failures=0,
        rejected=0,
        half_open_calls=0,
        opened_at=None,
        retry_after=0.0,
        reason=None,
    )


# ------------------------------------------------------------------------------ snapshot


def test_snapshot_of_an_open_circuit_has_every_field(fake_clock: FakeClock) -> None:
    """The frozen snapshot of an open circuit reports every field."""
    breaker = make(
        fake_clock, name="api", failure_rate=0.5, window=10, minimum_calls=4, open_for=20
    )
    succeed(breaker, 2)
    fail(breaker, 2)
    opened = fake_clock.monotonic()
    fake_clock.advance(5)
    rejection(breaker)
    rejection(breaker)
    snap = breaker.snapshot()
    assert snap.name == "api"
    assert snap.state is OPEN
    assert (snap.calls, snap.failures, snap.slow_calls) == (4, 2, 0)
    assert snap.failure_rate == 0.5
    assert snap.consecutive_failures == 2
    assert snap.rejected == 2
    assert snap.half_open_calls == 0
    assert snap.opened_at == opened
    assert snap.retry_after == 15.0
    assert snap.reason is not None
    assert snap.reason.startswith("failure rate 50% over the last 4 calls")
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.state = CLOSED  # type: ignore[misc]


def test_snapshot_of_a_fresh_breaker(fake_clock: FakeClock) -> None:
    """A fresh breaker's snapshot is closed, with no calls and nothing to wait for."""
    snap = make(fake_clock).snapshot()
    assert snap.state is CLOSED
    assert (snap.calls, snap.failures, snap.failure_rate, snap.consecutive_failures) == (
        0,
        0,
        None,
        0,
    )
    assert (snap.opened_at, snap.retry_after, snap.reason) == (None, 0.0, None)


def test_repr_names_the_breaker_and_its_state(fake_clock: FakeClock) -> None:
    """The repr names the breaker and its current state."""
    breaker = make(fake_clock, failure_threshold=1)
    assert repr(breaker) == "CircuitBreaker('db', state=CLOSED)"
    fail(breaker)
    assert repr(breaker) == "CircuitBreaker('db', state=OPEN)"


# ------------------------------------------------------------------------- ignored outcomes


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_ignored_outcomes_neither_count_nor_reset_the_consecutive_count(
    fake_clock: FakeClock, exc: type[BaseException]
) -> None:
    """Interruptions such as KeyboardInterrupt neither count as failures nor reset the count."""
    breaker = make(fake_clock, failure_threshold=3)

    def cancelled() -> None:
        raise exc

    fail(breaker, 2)
    for _ in range(5):
        with pytest.raises(exc):
            breaker.call(cancelled)
    assert breaker.snapshot().consecutive_failures == 2
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_ignored_outcomes_stay_out_of_the_window(fake_clock: FakeClock) -> None:
    """Ignored outcomes stay out of the rate window."""
    breaker = make(fake_clock, failure_rate=0.5, window=10, minimum_calls=2)
    succeed(breaker)
    for _ in range(3):
        ignore(breaker)
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures) == (1, 0)


def test_ignored_outcome_of_a_with_block_is_not_counted(fake_clock: FakeClock) -> None:
    """An interrupted with block is not counted."""
    breaker = make(fake_clock, failure_threshold=2)
    fail(breaker)
    with pytest.raises(KeyboardInterrupt), breaker:
        raise KeyboardInterrupt
    assert breaker.snapshot().consecutive_failures == 1


def test_ignored_trial_gives_its_permit_back_without_deciding(fake_clock: FakeClock) -> None:
    """An interrupted trial gives its permit back and decides nothing."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    fail(breaker)
    fake_clock.advance(10)
    ignore(breaker)  # the trial was interrupted: says nothing about the remote
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().half_open_calls == 0
    succeed(breaker)  # the permit is free again
    assert breaker.state is CLOSED


def test_permanent_errors_are_ignored_unless_count_permanent(fake_clock: FakeClock) -> None:
    """PERMANENT errors do not count as failures unless count_permanent is set."""
    def bad_request() -> None:
        raise ValueError("bad input")

    lenient = make(fake_clock, failure_threshold=1)
    with pytest.raises(ValueError):
        lenient.call(bad_request)
    assert lenient.state is CLOSED
    strict = make(fake_clock, failure_threshold=1, count_permanent=True)
    with pytest.raises(ValueError):
        strict.call(bad_request)
    assert strict.state is OPEN


# --------------------------------------------------------------------------- stale outcomes


def test_stale_failure_from_before_an_open_changes_nothing(fake_clock: FakeClock) -> None:
    """A failure admitted before the circuit opened changes nothing when it lands late."""
    breaker = make(fake_clock, failure_threshold=2, open_for=10)
    late = Held(breaker)
    fail(breaker, 2)
    before = breaker.snapshot()
    fake_clock.advance(1)
    late.fail()
    after = breaker.snapshot()
    assert after.opened_at == before.opened_at
    assert after.consecutive_failures == before.consecutive_failures == 2
    assert after.retry_after == 9.0


def test_stale_success_cannot_close_a_circuit_that_opened_meanwhile(fake_clock: FakeClock) -> None:
    """A late success cannot close a circuit that opened while it ran."""
    breaker = make(fake_clock, failure_rate=0.5, window=4, minimum_calls=2, open_for=10)
    late = Held(breaker)
    fail(breaker, 2)
    late.succeed()
    snap = breaker.snapshot()
    assert snap.state is OPEN
    assert (snap.calls, snap.failures) == (2, 2)


def test_stale_failure_cannot_reopen_a_circuit_that_closed_meanwhile(fake_clock: FakeClock) -> None:
    """A late failure cannot re-open a circuit that closed while it ran."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10)
    late = Held(breaker)
    fail(breaker)
    fake_clock.advance(10)
    succeed(breaker)
    assert breaker.state is CLOSED
    late.fail()
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == 0


def test_stale_trial_cannot_take_a_permit_from_the_next_half_open_period(
    fake_clock: FakeClock,
) -> None:
    """A trial from an earlier half-open period cannot free a permit of the next one."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_timeout=5)
    fail(breaker)
    fake_clock.advance(10)
    old_trial = Held(breaker)
    fake_clock.advance(5)
    rejection(breaker)  # half-open timed out: OPEN again
    fake_clock.advance(10)
    new_trial = Held(breaker)
    old_trial.fail()  # from the previous half-open period
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().half_open_calls == 1
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)  # the new trial still holds the only permit
    new_trial.succeed()
    assert breaker.state is CLOSED


def test_stale_outcome_after_a_manual_transition_changes_nothing(fake_clock: FakeClock) -> None:
    """An outcome admitted before a manual transition changes nothing after it."""
    breaker = make(fake_clock, failure_threshold=1)
    late = Held(breaker)
    breaker.metrics_only()
    late.fail()
    assert breaker.snapshot().consecutive_failures == 0
    late2 = Held(breaker)
    breaker.reset()
    late2.fail()
    assert breaker.state is CLOSED


def test_stale_fast_path_success_does_not_reset_the_count_of_a_later_closed_period(
    fake_clock: FakeClock,
) -> None:
    """A late success from an earlier closed period keeps the failures counted since a reset."""
    # A call admitted in one CLOSED period that succeeds after the circuit opened and was
    # reset must not wipe the failures counted since the reset.
    breaker = make(fake_clock, failure_threshold=3)

    def outlives_a_reset() -> str:
        fail(breaker, 3)
        assert breaker.state is OPEN
        breaker.reset()
        fail(breaker, 2)
        return "late"

    assert breaker.call(outlives_a_reset) == "late"
    assert breaker.snapshot().consecutive_failures == 2
    fail(breaker)
    assert breaker.state is OPEN


def test_stale_decorated_success_does_not_wipe_the_count_of_an_open_circuit(
    fake_clock: FakeClock,
) -> None:
    """A decorated call's late success leaves a circuit that opened meanwhile open."""
    breaker = make(fake_clock, failure_threshold=3)

    @breaker
    def outlives_the_open() -> str:
        fail(breaker, 3)
        return "late"

    assert outlives_the_open() == "late"
    assert breaker.state is OPEN
    assert breaker.snapshot().consecutive_failures == 3


# -------------------------------------------------------------------------------- events


def test_listeners_receive_transitions_rejections_and_recorded_outcomes(
    fake_clock: FakeClock,
) -> None:
    """Listeners hear every recorded outcome, rejection and transition, with the clock's times."""
    fake_clock.advance(1000)  # away from 0.0, so the events' times are the clock's, not a default
    events: list[Event] = []
    breaker = CircuitBreaker(
        "db",
        BreakerConfig(failure_threshold=2, open_for=10),
        clock=fake_clock,
        listeners=[events.append],
    )
    succeed(breaker)
    fail(breaker, 2)
    rejection(breaker)
    fake_clock.advance(10)
    succeed(breaker)
    ignore(breaker)

    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "CallRecorded",
        "CallRecorded",
        "CallRecorded",
        "StateChanged",
        "CallRejected",
        "StateChanged",
        "CallRecorded",
        "StateChanged",
        "CallRecorded",
    ]
    recorded = [e for e in events if isinstance(e, CallRecorded)]
    assert [e.outcome for e in recorded] == [
        Outcome.SUCCESS,
        Outcome.FAILURE,
        Outcome.FAILURE,
        Outcome.SUCCESS,
        Outcome.IGNORED,
    ]
    assert all(e.name == "db" for e in recorded)
    assert isinstance(recorded[1].error, ConnectionRefusedError)
    assert recorded[0].error is None
    assert isinstance(recorded[4].error, KeyboardInterrupt)
    changes = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    opened = next(e for e in events if isinstance(e, StateChanged))
    assert opened.reason == "2 consecutive failures; last: ConnectionRefusedError('refused')"
    assert opened.at == 1000.0
    rejected = next(e for e in events if isinstance(e, CallRejected))
    assert (rejected.name, rejected.state, rejected.retry_after, rejected.at) == (
        "db",
        OPEN,
        10.0,
        1000.0,
    )


def test_listeners_receive_manual_transitions(fake_clock: FakeClock) -> None:
    """Listeners hear each manual transition."""
    events: list[Event] = []
    breaker = CircuitBreaker("db", clock=fake_clock, listeners=[events.append])
    breaker.force_open()
    breaker.disable()
    breaker.metrics_only()
    breaker.reset()
    assert [(e.old, e.new) for e in events if isinstance(e, StateChanged)] == [
        (CLOSED, FORCED_OPEN),
        (FORCED_OPEN, DISABLED),
        (DISABLED, METRICS_ONLY),
        (METRICS_ONLY, CLOSED),
    ]


def test_a_raising_listener_is_logged_once_and_never_breaks_the_call(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising listener is logged once and breaks neither the call nor the other listeners."""
    good: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    breaker = CircuitBreaker(
        "db",
        BreakerConfig(failure_threshold=1, open_for=10),
        clock=fake_clock,
        listeners=[broken, good.append],
    )
    with caplog.at_level(logging.ERROR, logger="resilience"):
        assert breaker.call(ok) == "ok"
        fail(breaker)  # the original error, not the listener's
        with pytest.raises(CircuitOpenError):
            breaker.call(ok)
        fake_clock.advance(10)
        succeed(breaker)
    assert breaker.state is CLOSED
    records = [r for r in caplog.records if "listener" in r.getMessage()]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)
    assert "unaffected" in records[0].getMessage()
    # The listener after the broken one still got every event.
    assert len(good) == 7


def test_each_raising_listener_is_logged_once_on_its_own(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Each raising listener is logged once, on its own."""
    def make_broken() -> Callable[[Event], None]:
        def broken(event: Event) -> None:
            raise RuntimeError("listener bug")

        return broken

    first, second = make_broken(), make_broken()
    breaker = CircuitBreaker("db", clock=fake_clock, listeners=[first, second])
    with caplog.at_level(logging.ERROR, logger="resilience"):
        succeed(breaker, 3)
    assert len([r for r in caplog.records if "listener" in r.getMessage()]) == 2


def test_a_listener_added_later_hears_every_later_event(fake_clock: FakeClock) -> None:
    """A listener added later leaves the lean fast path and hears every later event."""
    breaker = CircuitBreaker("api", BreakerConfig(failure_threshold=2), clock=fake_clock)
    lean_before = breaker.fast_epoch is not None
    heard: list[Event] = []
    breaker.add_listener(heard.append)
    assert lean_before  # the lean fast path, before any listener
    assert breaker.fast_epoch is None  # an event per call needs the full path
    breaker.call(lambda: None)
    fail(breaker, 2)
    assert [type(e).__name__ for e in heard] == [
        "CallRecorded",
        "CallRecorded",
        "CallRecorded",
        "StateChanged",
    ]


# ------------------------------------------------- half-open semantics, counts, manual


def test_a_failed_half_open_trial_adds_to_consecutive_failures(fake_clock: FakeClock) -> None:
    """Three failures trip the circuit; a failed trial after them makes four."""
    breaker = make(fake_clock, failure_threshold=3, open_for=10)
    fail(breaker, 3)
    assert breaker.snapshot().consecutive_failures == 3
    fake_clock.advance(10)
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.snapshot().consecutive_failures == 4
    fake_clock.advance(10)
    fail(breaker)
    assert breaker.snapshot().consecutive_failures == 5


def test_a_successful_half_open_trial_resets_consecutive_failures(fake_clock: FakeClock) -> None:
    """A trial success counts as any success does: the run of failures is over."""
    breaker = make(fake_clock, failure_threshold=2, open_for=10, success_threshold=2)
    fail(breaker, 2)
    fake_clock.advance(10)
    succeed(breaker)
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().consecutive_failures == 0


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_retry_after_is_zero_in_half_open_while_a_trial_permit_is_free(
    fake_clock: FakeClock, timeout: float | None
) -> None:
    """The next call would be a trial, so there is nothing to wait for."""
    breaker = make(
        fake_clock,
        failure_threshold=1,
        open_for=10,
        half_open_max_calls=2,
        half_open_timeout=timeout,
    )
    fail(breaker)
    fake_clock.advance(10)
    first = Held(breaker)
    snap = breaker.snapshot()
    assert (snap.state, snap.half_open_calls, snap.retry_after) == (HALF_OPEN, 1, 0.0)
    second = Held(breaker)
    expected = None if timeout is None else timeout + 10
    assert breaker.snapshot().retry_after == expected
    first.succeed()
    second.succeed()


@pytest.mark.parametrize(("open_for_max", "next_period"), [(None, 10.0), (40.0, 20.0)])
def test_a_caller_rejected_in_half_open_is_not_rejected_again_after_its_retry_after(
    fake_clock: FakeClock, open_for_max: float | None, next_period: float
) -> None:
    """retry_after covers the rest of the half-open period and the open period after it."""
    breaker = make(
        fake_clock, failure_threshold=1, open_for=10, open_for_max=open_for_max, half_open_timeout=5
    )
    fail(breaker)
    fake_clock.advance(10)
    hung = Held(breaker)  # a trial that never answers
    fake_clock.advance(2)
    error = rejection(breaker)
    assert error.state is HALF_OPEN
    assert error.retry_after == pytest.approx(3 + next_period)
    assert str(error) == (
        "circuit 'db' is HALF_OPEN: trial calls are in flight to decide whether 'db' has "
        f"recovered; try again when they finish, or in {3 + next_period:.1f} s at the latest"
    )
    fake_clock.advance(3 + next_period - 0.5)
    assert rejection(breaker).retry_after == pytest.approx(0.5)
    fake_clock.advance(0.5)
    succeed(breaker)  # the trial of the next half-open period
    assert breaker.state is CLOSED
    hung.succeed()


def test_a_trial_that_succeeds_after_the_half_open_timeout_does_not_close_the_circuit(
    fake_clock: FakeClock,
) -> None:
    """A late answer is stale: the circuit has been OPEN since the half-open period ended."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_timeout=5)
    fail(breaker)
    fake_clock.advance(10)
    expiry = fake_clock.monotonic() + 5
    late = Held(breaker)
    fake_clock.advance(7)
    late.succeed()
    snap = breaker.snapshot()
    assert snap.state is OPEN
    assert snap.opened_at == expiry
    assert snap.retry_after == pytest.approx(8.0)
    assert snap.reason == "no trial call finished within half_open_timeout=5 s"
    assert snap.half_open_calls == 0


def test_a_trial_that_fails_after_the_half_open_timeout_does_not_reopen_the_circuit(
    fake_clock: FakeClock,
) -> None:
    """A late failure neither counts nor starts another (longer) open period."""
    breaker = make(
        fake_clock, failure_threshold=1, open_for=10, open_for_max=80, half_open_timeout=5
    )
    fail(breaker)
    fake_clock.advance(10)
    expiry = fake_clock.monotonic() + 5
    late = Held(breaker)
    fake_clock.advance(6)
    late.fail()
    snap = breaker.snapshot()
    assert (snap.state, snap.opened_at, snap.consecutive_failures) == (OPEN, expiry, 1)
    assert snap.retry_after == pytest.approx(20 - 1)  # one doubling, from the expiry
    assert snap.reason == "no trial call finished within half_open_timeout=5 s"


def test_the_open_period_after_a_half_open_timeout_is_dated_from_the_expiry(
    fake_clock: FakeClock,
) -> None:
    """Noticing the timeout late does not lengthen the open period that follows it."""
    breaker = make(fake_clock, failure_threshold=1, open_for=10, half_open_timeout=5)
    fail(breaker)
    fake_clock.advance(10)
    expiry = fake_clock.monotonic() + 5
    hung = Held(breaker)
    fake_clock.advance(12)  # expired 7 s ago, and nobody called since
    assert breaker.snapshot().retry_after == pytest.approx(3.0)
    error = rejection(breaker)
    assert error.state is OPEN
    assert error.retry_after == pytest.approx(3.0)
    assert breaker.snapshot().opened_at == expiry
    fake_clock.advance(3)
    succeed(breaker)
    assert breaker.state is CLOSED
    hung.succeed()
    assert breaker.state is CLOSED


def test_a_call_long_after_a_half_open_timeout_is_the_next_trial(fake_clock: FakeClock) -> None:
    """Expired half-open period and elapsed open period after it: the call is a trial."""
    events: list[Event] = []
    breaker = CircuitBreaker(
        "db",
        BreakerConfig(failure_threshold=1, open_for=10, half_open_timeout=5),
        clock=fake_clock,
        listeners=[events.append],
    )
    fail(breaker)
    fake_clock.advance(10)
    hung = Held(breaker)
    fake_clock.advance(100)
    events.clear()
    seen: list[CircuitState] = []
    breaker.call(lambda: seen.append(breaker.state))
    assert seen == [HALF_OPEN]
    assert breaker.state is CLOSED
    moves = [(e.old, e.new, e.at) for e in events if isinstance(e, StateChanged)]
    start = fake_clock.monotonic() - 100
    assert moves == [
        (HALF_OPEN, OPEN, start + 5),
        (OPEN, HALF_OPEN, fake_clock.monotonic()),
        (HALF_OPEN, CLOSED, fake_clock.monotonic()),
    ]
    hung.fail()
    assert breaker.state is CLOSED


@pytest.mark.parametrize(
    ("control", "state"),
    [("force_open", FORCED_OPEN), ("disable", DISABLED), ("metrics_only", METRICS_ONLY)],
)
def test_a_manual_transition_to_the_current_state_emits_no_state_changed(
    fake_clock: FakeClock, control: str, state: CircuitState, caplog: pytest.LogCaptureFixture
) -> None:
    """Calling force_open(), disable() or metrics_only() twice moves once."""
    events: list[Event] = []
    breaker = CircuitBreaker("db", clock=fake_clock, listeners=[events.append])
    with caplog.at_level(logging.INFO, logger="resilience"):
        getattr(breaker, control)()
        getattr(breaker, control)()
        breaker.reset()
        breaker.reset()
    assert [(e.old, e.new) for e in events if isinstance(e, StateChanged)] == [
        (CLOSED, state),
        (state, CLOSED),
    ]
    logged = [r.getMessage().split(":")[0] for r in caplog.records if "->" in r.getMessage()]
    name = state.name
    assert logged == [f"circuit 'db' CLOSED -> {name}", f"circuit 'db' {name} -> CLOSED"]


def test_reset_on_a_closed_breaker_still_forgets_its_counts(fake_clock: FakeClock) -> None:
    """reset() of a CLOSED breaker clears its counts without reporting a transition."""
    events: list[Event] = []
    breaker = CircuitBreaker(
        "db",
        BreakerConfig(failure_threshold=3, failure_rate=0.9, window=10, open_for=10),
        clock=fake_clock,
        listeners=[events.append],
    )
    fail(breaker, 3)
    rejection(breaker)
    fake_clock.advance(10)
    succeed(breaker)
    fail(breaker, 2)
    in_flight = Held(breaker)
    snap = breaker.snapshot()
    assert (snap.state, snap.consecutive_failures, snap.calls, snap.rejected) == (CLOSED, 2, 2, 1)
    events.clear()
    breaker.reset()
    assert not [e for e in events if isinstance(e, StateChanged)]
    snap = breaker.snapshot()
    assert (snap.consecutive_failures, snap.calls, snap.failures, snap.rejected) == (0, 0, 0, 0)
    in_flight.fail()  # admitted before the reset: forgotten with the rest
    assert breaker.snapshot().consecutive_failures == 0


# -------------------------------------------------------------------- hostile exceptions


class HostileError(ConnectionError):
    """A failure whose ``__repr__`` and ``__str__`` misbehave in one of several ways."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def _text(self) -> str:
        if self.how == "raises":
            raise RuntimeError("repr bug")
        if self.how == "huge":
            return "x" * 10_000_000
        if self.how == "multiline":
            return "first\nsecond\r\nforged log line"
        return 42  # type: ignore[return-value] # not a str at all

    def __repr__(self) -> str:
        return self._text()

    def __str__(self) -> str:
        return self._text()


HOW = ["raises", "huge", "multiline", "not_a_str"]
STATES = ["consecutive", "rate", "half_open"]


def hostile_breaker(
    clock: FakeClock, state: str, listeners: list[Callable[[Event], object]]
) -> CircuitBreaker:
    """A breaker that the next failure trips, by the rule or the trial named by ``state``."""
    if state == "consecutive":
        config = BreakerConfig(failure_threshold=1, open_for=10)
    elif state == "rate":
        config = BreakerConfig(failure_rate=0.5, window=2, minimum_calls=1, open_for=10)
    else:
        config = BreakerConfig(failure_threshold=1, open_for=10)
    breaker = CircuitBreaker("db", config, clock=clock, listeners=listeners)
    if state == "half_open":
        fail(breaker)
        clock.advance(10)
    return breaker


class RaisingListener:
    """A listener that raises a hostile error, and whose own repr raises too."""

    def __call__(self, event: Event) -> None:
        raise HostileError("raises")

    def __repr__(self) -> str:
        raise RuntimeError("listener repr bug")


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("form", ["decorator", "call", "with"])
def test_a_hostile_exception_reaches_the_caller_as_itself(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture, how: str, state: str, form: str
) -> None:
    """Whatever its repr does, the caller's own error comes back and the circuit trips."""
    heard: list[Event] = []
    listener = RaisingListener()  # a new one: each raising listener is logged once
    breaker = hostile_breaker(fake_clock, state, [listener, heard.append])
    error = HostileError(how)

    def remote() -> None:
        raise error

    def through() -> None:
        if form == "decorator":
            breaker(remote)()
        elif form == "call":
            breaker.call(remote)
        else:
            with breaker:
                remote()

    with caplog.at_level(logging.DEBUG, logger="resilience"), pytest.raises(HostileError) as info:
        through()
    assert info.value is error
    snap = breaker.snapshot()
    assert snap.state is OPEN
    assert snap.reason is not None
    assert "\n" not in snap.reason
    assert len(snap.reason) < 1_000
    assert isinstance(heard[-1], StateChanged)
    assert heard[-1].reason == snap.reason
    assert "\n" not in str(rejection(breaker))
