"""RetryPolicy on a FakeClock: attempts, waits, deadlines, Retry-After, budgets, forms."""

from __future__ import annotations

import asyncio
import errno
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import tenacity
from pydantic import ValidationError

from resilience import (
    Backoff,
    CircuitOpenError,
    CircuitState,
    Classifier,
    FailureKind,
    PartialFailure,
    RetryBudget,
    RetryPolicy,
    RetryScheduled,
)
from resilience.testing import FakeClock, set_testing


@dataclass
class Flaky:
    """Fails with the given errors in turn, then returns "ok"; records call times."""

    clock: FakeClock
    errors: list[Exception]
    calls: list[float] = field(default_factory=list)

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls.append(self.clock.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class HTTPError(Exception):
    """An HTTP error the way requests and httpx expose it."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers or {}


def no_jitter(initial: float = 1.0, maximum: float = 100.0) -> Backoff:
    return Backoff(initial=initial, multiplier=2.0, max=maximum, jitter="none")


def test_success_first_time_calls_once(fake_clock: FakeClock) -> None:
    """A call that succeeds is made once and its result returned."""
    fn = Flaky(fake_clock, [])
    assert RetryPolicy(clock=fake_clock).call(fn) == "ok"
    assert fn.calls == [0.0]


def test_retries_retryable_until_success_with_exponential_waits(fake_clock: FakeClock) -> None:
    """Retryable failures are retried after 1 s, 2 s, 4 s ... with jitter off."""
    fn = Flaky(fake_clock, [ConnectionError(), ConnectionError(), TimeoutError()])
    policy = RetryPolicy(attempts=4, backoff=no_jitter(), clock=fake_clock)
    assert policy.call(fn) == "ok"
    assert fn.calls == [0.0, 1.0, 3.0, 7.0]


def test_attempts_count_the_first_call(fake_clock: FakeClock) -> None:
    """attempts=3 means three calls in all, then the last error is raised."""
    fn = Flaky(fake_clock, [ConnectionError("a"), ConnectionError("b"), ConnectionError("c")])
    with pytest.raises(ConnectionError, match="c") as info:
        RetryPolicy(attempts=3, backoff=no_jitter(), clock=fake_clock).call(fn)
    assert len(fn.calls) == 3
    note = "\n".join(info.value.__notes__)
    assert "gave up after 3 attempts" in note
    assert "attempt 1: ConnectionError('a')" in note
    assert "attempt 3: ConnectionError('c')" in note
    assert "waited 1 s" in note


def test_permanent_error_is_not_retried_and_raised_untouched(fake_clock: FakeClock) -> None:
    """A PERMANENT failure on the first attempt is raised at once, with no note."""
    fn = Flaky(fake_clock, [ValueError("bad input")])
    with pytest.raises(ValueError, match="bad input") as info:
        RetryPolicy(clock=fake_clock).call(fn)
    assert len(fn.calls) == 1
    assert not getattr(info.value, "__notes__", [])


def test_permanent_after_retries_notes_why(fake_clock: FakeClock) -> None:
    """A PERMANENT failure after retries stops at once and the note says why."""
    fn = Flaky(fake_clock, [ConnectionError(), HTTPError(404)])
    with pytest.raises(HTTPError) as info:
        RetryPolicy(attempts=5, backoff=no_jitter(), clock=fake_clock).call(fn)
    assert len(fn.calls) == 2
    assert "not retryable: PERMANENT" in info.value.__notes__[0]


def test_cancellation_is_never_retried(fake_clock: FakeClock) -> None:
    """KeyboardInterrupt passes straight through the retry loop."""
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RetryPolicy(clock=fake_clock).call(fn)
    assert calls == [1]


def test_backoff_cap(fake_clock: FakeClock) -> None:
    """Waits grow exponentially but never beyond the cap."""
    fn = Flaky(fake_clock, [ConnectionError()] * 5)
    RetryPolicy(attempts=6, backoff=no_jitter(initial=1, maximum=3), clock=fake_clock).call(fn)
    gaps = [b - a for a, b in zip(fn.calls, fn.calls[1:], strict=False)]
    assert gaps == [1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize("retry", [1, 2, 5, 40, 2000])
def test_full_jitter_stays_within_bounds(retry: int) -> None:
    """Full jitter draws from [0, min(cap, initial * 2**(n-1))]."""
    backoff = Backoff(initial=0.5, multiplier=2, max=8)
    bound = min(8.0, 0.5 * 2 ** min(retry - 1, 60))
    draws = [backoff.delay(retry) for _ in range(500)]
    assert all(0.0 <= d <= bound for d in draws)
    assert max(draws) > bound / 2  # it really spreads, not a constant


def test_equal_jitter_keeps_half() -> None:
    """Equal jitter draws from [base/2, base]."""
    backoff = Backoff(initial=4, max=100, jitter="equal")
    draws = [backoff.delay(1) for _ in range(300)]
    assert all(2.0 <= d <= 4.0 for d in draws)


def test_zero_delay_does_not_sleep() -> None:
    """A zero wait retries at once without calling the clock's sleep."""

    class CountingClock(FakeClock):
        sleeps = 0

        def sleep(self, seconds: float) -> None:
            type(self).sleeps += 1
            super().sleep(seconds)

    clock = CountingClock()
    fn = Flaky(clock, [ConnectionError(), ConnectionError()])
    RetryPolicy(backoff=Backoff(initial=0, jitter="none"), clock=clock).call(fn)
    assert len(fn.calls) == 3
    assert CountingClock.sleeps == 0


def test_deadline_gives_up_before_a_wait_that_would_cross_it(fake_clock: FakeClock) -> None:
    """With 10 s of deadline, waits of 4 s and 8 s: the second would cross it."""
    fn = Flaky(fake_clock, [ConnectionError()] * 5)
    policy = RetryPolicy(attempts=10, deadline=10, backoff=no_jitter(initial=4), clock=fake_clock)
    with pytest.raises(ConnectionError) as info:
        policy.call(fn)
    assert fn.calls == [0.0, 4.0]
    assert fake_clock.monotonic() == 4.0  # it did not sleep towards a doomed attempt
    assert "deadline of 10 s" in info.value.__notes__[0]


def test_deadline_counts_time_spent_in_calls(fake_clock: FakeClock) -> None:
    """Time spent inside attempts counts against the deadline, not only the waits."""

    def slow() -> None:
        fake_clock.advance(6)
        raise ConnectionError

    policy = RetryPolicy(attempts=10, deadline=10, backoff=no_jitter(initial=1), clock=fake_clock)
    with pytest.raises(ConnectionError):
        policy.call(slow)
    assert fake_clock.monotonic() == 13.0  # 6 + 1 + 6; a third attempt would start at 14 > 10


def test_retry_after_seconds_replaces_a_shorter_wait(fake_clock: FakeClock) -> None:
    """A 429 with Retry-After: 7 waits 7 s instead of the computed 1 s."""
    fn = Flaky(fake_clock, [HTTPError(429, {"Retry-After": "7"})])
    RetryPolicy(backoff=no_jitter(), clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 7.0]


def test_retry_after_http_date(fake_clock: FakeClock) -> None:
    """A 503 with an HTTP-date Retry-After waits until that date, by the wall clock."""
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    classifier = Classifier.default(wall_clock=now.timestamp)
    fn = Flaky(fake_clock, [HTTPError(503, {"retry-after": later})])
    RetryPolicy(backoff=no_jitter(), classifier=classifier, clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 30.0]


def test_retry_after_shorter_than_backoff_is_not_used(fake_clock: FakeClock) -> None:
    """Retry-After only lengthens a wait: the computed 1 s stays when it asks for 0."""
    fn = Flaky(fake_clock, [HTTPError(503, {"Retry-After": "0"})])
    RetryPolicy(backoff=no_jitter(), clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 1.0]


def test_retry_after_is_capped(fake_clock: FakeClock) -> None:
    """Retry-After beyond max_retry_after waits max_retry_after."""
    fn = Flaky(fake_clock, [HTTPError(429, {"Retry-After": "3600"})])
    RetryPolicy(backoff=no_jitter(), max_retry_after=20, clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 20.0]


def test_unparseable_retry_after_is_ignored(fake_clock: FakeClock) -> None:
    """A Retry-After that is neither seconds nor a date leaves the computed wait."""
    fn = Flaky(fake_clock, [HTTPError(503, {"Retry-After": "soon-ish"})])
    RetryPolicy(backoff=no_jitter(), clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 1.0]


def test_respect_retry_after_false(fake_clock: FakeClock) -> None:
    """respect_retry_after=False keeps the computed wait."""
    fn = Flaky(fake_clock, [HTTPError(429, {"Retry-After": "50"})])
    RetryPolicy(backoff=no_jitter(), respect_retry_after=False, clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 1.0]


def test_circuit_open_error_waits_its_retry_after(fake_clock: FakeClock) -> None:
    """With wait_for_open_circuit, a CircuitOpenError is retried after its retry_after."""
    error = CircuitOpenError("db", CircuitState.OPEN, 12.0, "5 consecutive failures")
    fn = Flaky(fake_clock, [error])
    RetryPolicy(backoff=no_jitter(), wait_for_open_circuit=12, clock=fake_clock).call(fn)
    assert fn.calls == [0.0, 12.0]


def test_circuit_open_error_without_retry_after_is_not_retried(fake_clock: FakeClock) -> None:
    """A forced-open circuit (retry_after None) is not retried, and the note says so."""
    error = CircuitOpenError("db", CircuitState.FORCED_OPEN, None, "forced open")
    fn = Flaky(fake_clock, [ConnectionError(), error])
    with pytest.raises(CircuitOpenError) as info:
        RetryPolicy(backoff=no_jitter(), clock=fake_clock).call(fn)
    assert len(fn.calls) == 2
    assert "no trial call coming" in info.value.__notes__[0]


def test_circuit_open_error_beyond_wait_for_open_circuit_is_not_retried(
    fake_clock: FakeClock,
) -> None:
    """A circuit that opens for longer than wait_for_open_circuit is not waited for."""
    error = CircuitOpenError("db", CircuitState.OPEN, 300.0, "5 consecutive failures")
    fn = Flaky(fake_clock, [error])
    with pytest.raises(CircuitOpenError) as info:
        RetryPolicy(wait_for_open_circuit=60, clock=fake_clock).call(fn)
    assert fn.calls == [0.0]
    assert "later than wait_for_open_circuit=60 s" in info.value.__notes__[0]


def test_an_open_circuit_is_not_waited_for_by_default(fake_clock: FakeClock) -> None:
    """By default a CircuitOpenError reaches the caller at once, with its retry_after."""
    error = CircuitOpenError("db", CircuitState.OPEN, 30.0, "5 consecutive failures")
    fn = Flaky(fake_clock, [error])
    policy = RetryPolicy(
        attempts=3, backoff=Backoff(initial=0.2, max=5), deadline=60, clock=fake_clock
    )
    with pytest.raises(CircuitOpenError) as info:
        policy.call(fn)
    assert fn.calls == [0.0]
    assert fake_clock.monotonic() == 0.0
    assert info.value.retry_after == 30.0
    assert "not waited for unless wait_for_open_circuit=" in info.value.__notes__[0]


def test_circuit_open_error_beyond_deadline_is_not_retried(fake_clock: FakeClock) -> None:
    """A circuit whose retry_after does not fit the deadline ends the retry at once."""
    error = CircuitOpenError("db", CircuitState.OPEN, 30.0, "5 consecutive failures")
    fn = Flaky(fake_clock, [error])
    with pytest.raises(CircuitOpenError):
        RetryPolicy(deadline=10, wait_for_open_circuit=60, clock=fake_clock).call(fn)
    assert fn.calls == [0.0]


def test_budget_exhaustion_skips_the_retry_and_says_so(fake_clock: FakeClock) -> None:
    """With the budget spent, a failure is raised at once with a note naming the budget."""
    budget = RetryBudget(ratio=0.0, min_per_second=0.1, window=10, clock=fake_clock)  # 1 retry
    policy = RetryPolicy(attempts=5, backoff=Backoff(initial=0), budget=budget, clock=fake_clock)
    fn = Flaky(fake_clock, [ConnectionError(), ConnectionError()])
    with pytest.raises(ConnectionError) as info:
        policy.call(fn)
    assert len(fn.calls) == 2
    assert "retry budget spent" in info.value.__notes__[0]


def test_tenacity_stop_and_wait_objects(fake_clock: FakeClock) -> None:
    """tenacity's strategies and their algebra are accepted and run on our clock."""
    policy = RetryPolicy(
        stop=tenacity.stop_after_attempt(4) | tenacity.stop_after_delay(100),
        wait=tenacity.wait_fixed(2) + tenacity.wait_fixed(1),
        clock=fake_clock,
    )
    fn = Flaky(fake_clock, [ConnectionError()] * 10)
    with pytest.raises(ConnectionError):
        policy.call(fn)
    assert fn.calls == [0.0, 3.0, 6.0, 9.0]


def test_tenacity_stop_after_delay_uses_the_injected_clock(fake_clock: FakeClock) -> None:
    """stop_after_delay measures on the FakeClock: 10 s of waits stop it."""
    policy = RetryPolicy(
        stop=tenacity.stop_after_delay(10), wait=tenacity.wait_fixed(4), clock=fake_clock
    )
    fn = Flaky(fake_clock, [ConnectionError()] * 10)
    with pytest.raises(ConnectionError) as info:
        policy.call(fn)
    assert fn.calls == [0.0, 4.0, 8.0, 12.0]
    assert "stop condition" in info.value.__notes__[0]


def test_tenacity_wait_exponential(fake_clock: FakeClock) -> None:
    """tenacity.wait_exponential sees attempt numbers that count the first call."""
    policy = RetryPolicy(attempts=4, wait=tenacity.wait_exponential(multiplier=1), clock=fake_clock)
    fn = Flaky(fake_clock, [ConnectionError()] * 3)
    policy.call(fn)
    assert fn.calls == [0.0, 1.0, 3.0, 7.0]


def test_on_retry_receives_events(fake_clock: FakeClock) -> None:
    """on_retry is told each failed attempt, its classification and the wait."""
    seen: list[RetryScheduled] = []
    policy = RetryPolicy(backoff=no_jitter(), on_retry=seen.append, clock=fake_clock)
    policy.call(Flaky(fake_clock, [ConnectionError(), TimeoutError()]))
    assert [(e.attempt, e.delay, e.classification.kind) for e in seen] == [
        (1, 1.0, FailureKind.RETRYABLE),
        (2, 2.0, FailureKind.RETRYABLE),
    ]
    assert isinstance(seen[1].error, TimeoutError)
    assert seen[1].elapsed == 1.0


def test_custom_classifier_rule(fake_clock: FakeClock) -> None:
    """A with_rule classifier makes an otherwise permanent error retryable."""

    class FlakeError(Exception):
        pass

    classifier = Classifier.default().with_rule(FlakeError, FailureKind.RETRYABLE)
    fn = Flaky(fake_clock, [FlakeError()])
    assert RetryPolicy(classifier=classifier, clock=fake_clock).call(fn) == "ok"
    assert len(fn.calls) == 2


def test_decorator_keeps_signature_and_retries(fake_clock: FakeClock) -> None:
    """@policy keeps name, doc and signature and retries."""
    fn = Flaky(fake_clock, [ConnectionError()])

    @RetryPolicy(clock=fake_clock)
    def fetch(url: str, *, timeout: float = 1.0) -> str:
        """Fetch a URL."""
        return fn(url, timeout=timeout)

    assert fetch("http://x") == "ok"
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch a URL."
    assert str(inspect.signature(fetch)) == "(url: 'str', *, timeout: 'float' = 1.0) -> 'str'"


def test_decorator_with_budget_path(fake_clock: FakeClock) -> None:
    """A decorated function with a budget deposits a call and retries."""
    budget = RetryBudget(clock=fake_clock)
    fn = Flaky(fake_clock, [ConnectionError()])
    wrapped = RetryPolicy(budget=budget, clock=fake_clock)(fn)
    assert wrapped() == "ok"
    snap = budget.snapshot()
    assert (snap.calls, snap.retries) == (1, 1)


def test_iterator_form(fake_clock: FakeClock) -> None:
    """for attempt in policy: with attempt: retries the block."""
    fn = Flaky(fake_clock, [ConnectionError(), ConnectionError()])
    numbers = []
    for attempt in RetryPolicy(backoff=no_jitter(), clock=fake_clock):
        with attempt:
            numbers.append(attempt.number)
            fn()
    assert numbers == [1, 2, 3]
    assert fn.calls == [0.0, 1.0, 3.0]


def test_iterator_form_gives_up_with_note(fake_clock: FakeClock) -> None:
    """The iterator form re-raises the last error, with its note, when it gives up."""
    fn = Flaky(fake_clock, [ConnectionError()] * 5)
    with pytest.raises(ConnectionError) as info:  # noqa: PT012 - the loop is the subject
        for attempt in RetryPolicy(attempts=2, clock=fake_clock):
            with attempt:
                fn()
    assert len(fn.calls) == 2
    assert "gave up after 2 attempts" in info.value.__notes__[0]


async def test_async_iterator_form(fake_clock: FakeClock) -> None:
    """async for attempt in policy: numbered from 1, each retry after its wait, as for."""
    fn = Flaky(fake_clock, [ConnectionError(), ConnectionError()])
    numbers = []
    async for attempt in RetryPolicy(backoff=no_jitter(), clock=fake_clock):
        with attempt:
            numbers.append(attempt.number)
            fn()
    assert numbers == [1, 2, 3]
    assert fn.calls == [0.0, 1.0, 3.0]


async def test_async_forms(fake_clock: FakeClock) -> None:
    """acall, the async decorator and async for all retry on the fake clock."""
    policy = RetryPolicy(backoff=no_jitter(), clock=fake_clock)
    fn = Flaky(fake_clock, [ConnectionError()])

    async def afn() -> str:
        return fn()

    assert await policy.acall(afn) == "ok"
    decorated = policy(afn)
    assert inspect.iscoroutinefunction(decorated)
    fn.errors = [TimeoutError()]
    assert await decorated() == "ok"
    fn.errors = [ConnectionError(), ConnectionError()]
    count = 0
    async for attempt in policy:
        with attempt:
            count += 1
            await afn()
    assert count == 3


async def test_async_cancellation_is_not_retried(fake_clock: FakeClock) -> None:
    """A cancelled coroutine is not retried."""
    calls = 0
    started = asyncio.Event()

    async def hang() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(RetryPolicy(clock=fake_clock).acall(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


def test_partial_retries_only_failed_retryable_items(fake_clock: FakeClock) -> None:
    """A PartialFailure is retried with only its failed, retryable items."""
    seen: list[list[str]] = []
    flaky = {"b": 1, "c": 2}  # fails this many times

    policy = RetryPolicy(attempts=5, backoff=no_jitter(), clock=fake_clock)

    @policy.partial
    def upload(paths: list[str], remote: str) -> str:
        seen.append(list(paths))
        failed: dict[object, BaseException] = {}
        for p in paths:
            if flaky.get(p, 0) > 0:
                flaky[p] -= 1
                failed[p] = ConnectionError(p)
        if failed:
            raise PartialFailure(succeeded=[p for p in paths if p not in failed], failed=failed)
        return f"uploaded to {remote}"

    assert upload(["a", "b", "c"], "s3") == "uploaded to s3"
    assert seen == [["a", "b", "c"], ["b", "c"], ["c"]]


def test_partial_permanent_items_are_not_retried(fake_clock: FakeClock) -> None:
    """Permanent item failures are dropped from the retry and reported at the end."""
    seen: list[list[str]] = []

    @RetryPolicy(attempts=3, backoff=no_jitter(), clock=fake_clock).partial
    def upload(paths: list[str]) -> None:
        seen.append(list(paths))
        failed: dict[object, BaseException] = {}
        if "bad" in paths:
            failed["bad"] = PermissionError(errno.EACCES, "denied")
        if "slow" in paths:
            failed["slow"] = ConnectionError("reset")
        raise PartialFailure(succeeded=[p for p in paths if p not in failed], failed=failed)

    with pytest.raises(PartialFailure) as info:
        upload(["ok", "bad", "slow"])
    assert seen == [["ok", "bad", "slow"], ["slow"], ["slow"]]
    assert list(info.value.succeeded) == ["ok"]
    assert set(info.value.failed) == {"bad", "slow"}


def test_partial_not_opted_in_is_not_retried(fake_clock: FakeClock) -> None:
    """Without .partial, a PartialFailure is not retried (the whole call would repeat)."""
    fn = Flaky(fake_clock, [PartialFailure(succeeded=["a"], failed={"b": ConnectionError()})])
    with pytest.raises(PartialFailure):
        RetryPolicy(clock=fake_clock).call(fn)
    assert len(fn.calls) == 1


def test_testing_switch_zeroes_waits_and_caps_attempts(fake_clock: FakeClock) -> None:
    """set_testing zeroes every wait and caps attempts; it restores on exit."""
    fn = Flaky(fake_clock, [ConnectionError()] * 10)
    policy = RetryPolicy(attempts=5, backoff=no_jitter(initial=30), clock=fake_clock)
    with set_testing(attempts=2), pytest.raises(ConnectionError):
        policy.call(fn)
    assert fn.calls == [0.0, 0.0]
    fn.errors = [ConnectionError()]
    fn.calls.clear()
    policy.call(fn)
    assert fn.calls == [0.0, 30.0]


@pytest.mark.usefixtures("no_retry_waits")
def test_no_retry_waits_fixture_zeroes_waits(fake_clock: FakeClock) -> None:
    """The plugin's no_retry_waits fixture removes every wait for one test."""
    fn = Flaky(fake_clock, [ConnectionError()] * 2)
    policy = RetryPolicy(attempts=3, backoff=no_jitter(initial=30), clock=fake_clock)
    assert policy.call(fn) == "ok"
    assert fn.calls == [0.0, 0.0, 0.0]


def test_replace_returns_a_new_policy(fake_clock: FakeClock) -> None:
    """replace() changes one argument and leaves the original alone."""
    policy = RetryPolicy(attempts=2, clock=fake_clock)
    more = policy.replace(attempts=4)
    fn = Flaky(fake_clock, [ConnectionError()] * 3)
    more.call(fn)
    assert len(fn.calls) == 4
    with pytest.raises(TypeError, match="unknown arguments"):
        policy.replace(tries=3)


@pytest.mark.parametrize(
    ("make", "field_name"),
    [
        (lambda: RetryPolicy(attempts=0), "attempts"),
        (lambda: RetryPolicy(attempts=-1), "attempts"),
        (lambda: RetryPolicy(deadline=-1), "deadline"),
        (lambda: RetryPolicy(max_retry_after=-5), "max_retry_after"),
        (lambda: Backoff(initial=-0.1), "initial"),
        (lambda: Backoff(max=-1), "max"),
        (lambda: Backoff(multiplier=0.5), "multiplier"),
        (lambda: RetryBudget(ratio=1.5), "ratio"),
        (lambda: RetryBudget(ratio=-0.1), "ratio"),
        (lambda: RetryBudget(window=0), "window"),
        (lambda: RetryBudget(min_per_second=-1), "min_per_second"),
    ],
)
def test_bad_input_names_the_field(make: Callable[[], object], field_name: str) -> None:
    """Invalid retry settings raise ValidationError naming the field."""
    with pytest.raises(ValidationError) as info:
        make()
    assert field_name in {str(loc) for err in info.value.errors() for loc in err["loc"]}


def test_wrong_types_are_refused() -> None:
    """Passing the wrong kind of object says what was expected."""
    with pytest.raises(TypeError, match="stop"):
        RetryPolicy(stop=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decorates a function"):
        RetryPolicy()(42)  # type: ignore[arg-type]


def test_simulation_budget_bounds_amplification(fake_clock: FakeClock) -> None:
    """10,000 dead calls, 3 attempts each, a 20% budget: at most 1.25 attempts per call."""
    calls = 10_000

    def run(budget: RetryBudget | None) -> int:
        attempts = 0

        def dead() -> None:
            nonlocal attempts
            attempts += 1
            raise ConnectionError

        policy = RetryPolicy(
            attempts=3, backoff=Backoff(initial=0), budget=budget, clock=fake_clock
        )
        for _ in range(calls):
            fake_clock.advance(0.001)  # 10 s of traffic at 1,000 calls per second
            with pytest.raises(ConnectionError):
                policy.call(dead)
        return attempts

    assert run(None) == 3 * calls
    shared = RetryBudget(ratio=0.2, clock=fake_clock)
    with_budget = run(shared)
    assert with_budget <= 1.25 * calls
    assert with_budget > calls  # some retries were still allowed


class _Recording(tenacity.wait.wait_base):
    """A tenacity wait of zero that keeps what each RetryCallState said."""

    def __init__(self) -> None:
        self.seen: list[tuple[float | None, object, tuple[object, ...], dict[str, object]]] = []

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        self.seen.append(
            (retry_state.seconds_since_start, retry_state.fn, retry_state.args, retry_state.kwargs)
        )
        return 0.0


def test_testing_mode_zeroes_waits_before_the_deadline_judges_them(fake_clock: FakeClock) -> None:
    """set_testing(attempts=3) with deadline=1 and a 5 s backoff makes three attempts."""
    fn = Flaky(fake_clock, [ConnectionError()] * 5)
    policy = RetryPolicy(attempts=10, deadline=1, backoff=no_jitter(initial=5), clock=fake_clock)
    with set_testing(attempts=3), pytest.raises(ConnectionError) as info:
        policy.call(fn)
    assert fn.calls == [0.0, 0.0, 0.0]
    assert "3 attempts made (attempts=3)" in info.value.__notes__[0]


def test_testing_mode_caps_a_policy_only_by_its_own_cap(fake_clock: FakeClock) -> None:
    """Real waits that would cross the deadline at attempt 3 do not stop a testing run of 5."""
    fn = Flaky(fake_clock, [ConnectionError()] * 9)
    policy = RetryPolicy(
        attempts=10,
        deadline=10,
        backoff=no_jitter(initial=4),
        stop=tenacity.stop_before_delay(10),
        clock=fake_clock,
    )
    with set_testing(attempts=5), pytest.raises(ConnectionError):
        policy.call(fn)
    assert len(fn.calls) == 5


def test_tenacity_state_counts_from_the_start_of_the_first_attempt(fake_clock: FakeClock) -> None:
    """seconds_since_start includes the first attempt, and the state names fn and its args."""
    wait = _Recording()
    policy = RetryPolicy(attempts=2, wait=wait, clock=fake_clock)

    def slow(key: str, *, page: int) -> str:
        fake_clock.advance(5)
        raise ConnectionError(key, page)

    decorated = policy(slow)
    with pytest.raises(ConnectionError):
        policy.call(slow, "a", page=1)
    with pytest.raises(ConnectionError):
        decorated("b", page=2)
    assert wait.seen == [(5.0, slow, ("a",), {"page": 1}), (5.0, slow, ("b",), {"page": 2})]


async def test_tenacity_state_counts_from_the_first_attempt_in_async_forms(
    fake_clock: FakeClock,
) -> None:
    """The async call form gives the tenacity state the same start, fn and arguments."""
    wait = _Recording()
    policy = RetryPolicy(attempts=2, wait=wait, clock=fake_clock)

    async def slow(key: str) -> str:
        fake_clock.advance(5)
        raise ConnectionError(key)

    with pytest.raises(ConnectionError):
        await policy.acall(slow, "a")
    assert wait.seen == [(5.0, slow, ("a",), {})]


class _HostileArgument:
    """An exception argument whose repr raises, as a broken __repr__ in user code does."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class _HostileError(ConnectionError):
    """An exception whose own repr and str raise too."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def test_an_error_whose_repr_raises_reaches_the_caller_as_itself(fake_clock: FakeClock) -> None:
    """A retried error with a hostile repr gets its give-up note and is raised unchanged."""
    error = _HostileError(_HostileArgument(), "x" * 10_000)
    fn = Flaky(fake_clock, [ConnectionError(_HostileArgument()), error])
    with pytest.raises(_HostileError) as info:
        RetryPolicy(attempts=2, backoff=Backoff(initial=0), clock=fake_clock).call(fn)
    assert info.value is error
    note = info.value.__notes__[0]
    assert "its __repr__ raised RuntimeError" in note
    assert len(note) < 2_000  # a huge argument is shown bounded


def test_an_on_retry_hook_that_raises_is_logged_once_and_the_retry_goes_on(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An on_retry hook that raises never replaces the call's outcome; it is logged once."""

    def hook(event: RetryScheduled) -> None:
        raise ValueError("hook broke")

    fn = Flaky(fake_clock, [ConnectionError(), ConnectionError()])
    policy = RetryPolicy(attempts=3, backoff=Backoff(initial=0), on_retry=hook, clock=fake_clock)
    assert policy.call(fn) == "ok"
    assert len(fn.calls) == 3
    hook_records = [r for r in caplog.records if "raised while handling" in r.getMessage()]
    assert len(hook_records) == 1


def test_a_given_up_error_is_not_chained_to_earlier_attempts(fake_clock: FakeClock) -> None:
    """The error a decorated policy gives up with carries no earlier attempt as its context."""
    fn = Flaky(fake_clock, [ConnectionError("first"), ConnectionError("second")])
    wrapped = RetryPolicy(attempts=2, backoff=no_jitter(), clock=fake_clock)(fn)
    with pytest.raises(ConnectionError, match="second") as info:
        wrapped()
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
