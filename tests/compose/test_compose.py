"""resilient(): fallback ∘ retry ∘ breaker ∘ timeout ∘ call."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import tenacity
from pydantic import ValidationError

from resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CallTimeoutError,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock

NO_WAIT = Backoff(initial=0, jitter="none")


class Remote:
    """A remote that is up or down, counting the calls that reach it."""

    def __init__(self, *, up: bool = True) -> None:
        self.up = up
        self.calls = 0

    def get(self, key: str = "k") -> str:
        self.calls += 1
        if not self.up:
            raise ConnectionRefusedError(111, "Connection refused")
        return f"value of {key}"


def test_success_passes_through(fake_clock: FakeClock) -> None:
    """A healthy call returns its value through every layer."""
    remote = Remote()
    policy = resilient(
        retry=RetryPolicy(clock=fake_clock),
        breaker=CircuitBreaker("r", clock=fake_clock),
        timeout=5,
        fallback=lambda _exc, _key: "fallback",
        clock=fake_clock,
    )
    assert policy.call(remote.get, "a") == "value of a"
    assert remote.calls == 1


def test_retry_wraps_breaker_so_each_attempt_is_counted(fake_clock: FakeClock) -> None:
    """Each retry attempt passes through the breaker, which opens on the threshold."""
    remote = Remote(up=False)
    breaker = CircuitBreaker(
        "r", BreakerConfig(failure_threshold=3, open_for=600), clock=fake_clock
    )
    policy = resilient(
        retry=RetryPolicy(attempts=5, backoff=NO_WAIT, clock=fake_clock), breaker=breaker
    )
    with pytest.raises(CircuitOpenError):
        policy.call(remote.get)
    # The 4th attempt was rejected by the open circuit, which is not waited for.
    assert remote.calls == 3
    assert breaker.state is CircuitState.OPEN


def test_open_circuit_goes_to_fallback_when_retry_after_does_not_fit(fake_clock: FakeClock) -> None:
    """An open circuit whose retry_after exceeds the deadline falls back at once."""
    remote = Remote(up=False)
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=1, open_for=60), clock=fake_clock)
    seen: list[BaseException] = []

    def fallback(exc: BaseException, key: str) -> str:
        seen.append(exc)
        return f"cached {key}"

    policy = resilient(
        retry=RetryPolicy(attempts=3, deadline=10, backoff=NO_WAIT, clock=fake_clock),
        breaker=breaker,
        fallback=fallback,
    )
    assert policy.call(remote.get, "a") == "cached a"
    assert remote.calls == 1
    assert isinstance(seen[0], CircuitOpenError)
    assert fake_clock.monotonic() == 0.0  # it did not wait for a circuit it could not use


def test_open_circuit_is_waited_for_when_it_fits(fake_clock: FakeClock) -> None:
    """With wait_for_open_circuit, an open circuit that fits is waited for; the trial passes."""
    remote = Remote(up=False)
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=1, open_for=5), clock=fake_clock)

    def heal() -> str:
        if fake_clock.monotonic() >= 5:
            remote.up = True
        return remote.get()

    policy = resilient(
        retry=RetryPolicy(
            attempts=3, deadline=30, backoff=NO_WAIT, wait_for_open_circuit=5, clock=fake_clock
        ),
        breaker=breaker,
    )
    assert policy.call(heal) == "value of k"
    assert fake_clock.monotonic() == 5.0
    assert breaker.state is CircuitState.CLOSED


def test_registry_picks_the_breaker_from_the_arguments(fake_clock: FakeClock) -> None:
    """With a registry, remote= picks each call's breaker from its arguments."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=fake_clock)
    remotes = {"a": Remote(up=False), "b": Remote()}
    policy = resilient(
        lambda name, _key: name,
        retry=RetryPolicy(attempts=1, clock=fake_clock),
        breaker=registry,
    )

    def get(name: str, key: str) -> str:
        return remotes[name].get(key)

    with pytest.raises(ConnectionRefusedError):
        policy.call(get, "a", "x")
    assert policy.call(get, "b", "x") == "value of x"
    assert registry.get("a").state is CircuitState.OPEN
    assert registry.get("b").state is CircuitState.CLOSED


def test_fallback_only_on_final_failure(fake_clock: FakeClock) -> None:
    """The fallback runs once, after the last attempt, with the call's arguments."""
    remote = Remote(up=False)
    calls: list[tuple[type[BaseException], str]] = []

    def fallback(exc: BaseException, key: str) -> str:
        calls.append((type(exc), key))
        return "stale"

    @resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock),
        fallback=fallback,
    )
    def get(key: str) -> str:
        return remote.get(key)

    assert get("a") == "stale"
    assert remote.calls == 3
    assert calls == [(ConnectionRefusedError, "a")]


def test_no_fallback_reraises() -> None:
    """Without a fallback the final error propagates."""
    with pytest.raises(ConnectionRefusedError):
        resilient(retry=RetryPolicy(attempts=1)).call(Remote(up=False).get)


def test_a_late_sync_result_is_returned_not_discarded_and_retried(
    caplog: pytest.LogCaptureFixture,
    fake_clock: FakeClock,
) -> None:
    """A sync call past its timeout returns its late result once; the overrun is logged."""
    breaker = CircuitBreaker(
        "r",
        BreakerConfig(failure_rate=0.5, slow_call_rate=0.5, slow_call_duration=2, minimum_calls=2),
        clock=fake_clock,
    )
    calls = 0

    def slow() -> str:
        nonlocal calls
        calls += 1
        fake_clock.advance(3)
        return "late"

    policy = resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock),
        breaker=breaker,
        timeout=2,
        clock=fake_clock,
    )
    assert policy.call(slow) == "late"
    assert calls == 1
    assert breaker.snapshot().slow_calls == 1  # counted slow by the breaker's own bound
    assert breaker.state is CircuitState.CLOSED
    [record] = [r for r in caplog.records if "longer than timeout=2 s" in r.getMessage()]
    assert "its result is returned" in record.getMessage()
    assert isinstance(CallTimeoutError("x"), TimeoutError)


def test_sync_timeout_not_reached(fake_clock: FakeClock) -> None:
    """A call within its timeout returns normally."""

    def quick() -> str:
        fake_clock.advance(1)
        return "done"

    assert resilient(timeout=2, clock=fake_clock).call(quick) == "done"


async def test_async_timeout_cancels_the_coroutine(fake_clock: FakeClock) -> None:
    """An async call past its timeout is cancelled and retried; the fallback answers."""
    attempts = 0

    async def hang() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.Event().wait()
        return "never"

    async def fallback(exc: BaseException) -> str:
        assert isinstance(exc, CallTimeoutError)
        return "fallback"

    policy = resilient(
        retry=RetryPolicy(attempts=2, backoff=NO_WAIT, clock=fake_clock),
        timeout=1e-9,  # expires at the first await: nothing waits for real
        fallback=fallback,
    )
    assert await policy.acall(hang) == "fallback"
    assert attempts == 2


async def test_async_decorator_with_registry(fake_clock: FakeClock) -> None:
    """The async decorator goes through the registry's breaker and keeps the signature."""
    registry = BreakerRegistry(clock=fake_clock)

    @resilient("api", retry=RetryPolicy(clock=fake_clock), breaker=registry)
    async def fetch(path: str) -> str:
        """Fetch a path."""
        return f"got {path}"

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__doc__ == "Fetch a path."
    assert await fetch("/x") == "got /x"
    assert "api" in registry


def test_classifier_is_given_to_the_retry() -> None:
    """resilient(classifier=...) decides what the retry retries."""
    from resilience import Classifier, FailureKind  # noqa: PLC0415

    class FlakeError(Exception):
        pass

    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise FlakeError
        return "ok"

    classifier = Classifier.default().with_rule(FlakeError, FailureKind.RETRYABLE)
    policy = resilient(retry=RetryPolicy(backoff=NO_WAIT), classifier=classifier)
    assert policy.call(flaky) == "ok"
    assert calls == 2


def test_bad_arguments() -> None:
    """Wrong combinations and values are refused with clear errors."""
    with pytest.raises(TypeError, match="needs remote="):
        resilient(breaker=BreakerRegistry())
    with pytest.raises(TypeError, match="leave remote out"):
        resilient("x", breaker=CircuitBreaker("x"))
    with pytest.raises(TypeError, match="RetryPolicy"):
        resilient(retry=3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="timeout"):
        resilient(timeout=0)
    with pytest.raises(TypeError, match="decorates a function"):
        resilient()(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty remote name"):
        resilient("", breaker=BreakerRegistry())


# ------------------------------------------ the fused decorator (breaker fast path inline)


def test_fused_decorator_retries_through_the_breaker_then_falls_back(fake_clock: FakeClock) -> None:
    """The decorator's inline first attempt counts for the breaker like every attempt."""
    remote = Remote(up=False)
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=5), clock=fake_clock)

    @resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock),
        breaker=breaker,
        fallback=lambda exc, key: f"fallback for {key} after {type(exc).__name__}",
    )
    def get(key: str) -> str:
        return remote.get(key)

    assert get("a") == "fallback for a after ConnectionRefusedError"
    assert remote.calls == 3
    assert breaker.snapshot().consecutive_failures == 3
    remote.up = True
    assert get("b") == "value of b"
    assert breaker.snapshot().consecutive_failures == 0


def test_fused_decorator_without_retry_or_fallback_raises_the_original(
    fake_clock: FakeClock,
) -> None:
    """With only a breaker, a failure propagates untouched, without a note."""
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=1), clock=fake_clock)
    remote = Remote(up=False)
    get = resilient(breaker=breaker)(remote.get)
    with pytest.raises(ConnectionRefusedError) as info:
        get()
    assert not getattr(info.value, "__notes__", None)
    with pytest.raises(CircuitOpenError):
        get()
    assert remote.calls == 1


def test_fused_decorator_lets_cancellation_through_uncounted(fake_clock: FakeClock) -> None:
    """A KeyboardInterrupt in the inline attempt is neither retried nor counted."""
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=1), clock=fake_clock)
    calls = 0

    @resilient(retry=RetryPolicy(attempts=3, backoff=NO_WAIT), breaker=breaker)
    def interrupted() -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert calls == 1
    assert breaker.state is CircuitState.CLOSED


def test_fused_decorator_takes_the_layered_path_when_not_closed_or_budgeted(
    fake_clock: FakeClock,
) -> None:
    """An open breaker, or a policy with a budget, is served by the general path."""
    from resilience import RetryBudget  # noqa: PLC0415

    breaker = CircuitBreaker(
        "r", BreakerConfig(failure_threshold=1, open_for=600), clock=fake_clock
    )
    breaker.force_open()
    seen: list[BaseException] = []

    def fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "fallback"

    assert resilient(breaker=breaker, fallback=fallback)(lambda: "live")() == "fallback"
    assert isinstance(seen[0], CircuitOpenError)

    budget = RetryBudget(clock=fake_clock)
    breaker.reset()
    policy = RetryPolicy(budget=budget, backoff=NO_WAIT, clock=fake_clock)
    assert resilient(retry=policy, breaker=breaker)(lambda: "live")() == "live"
    assert budget.snapshot().calls == 1  # the first attempt was counted by the budget


def test_fused_decorator_with_a_registry_picks_the_remote(fake_clock: FakeClock) -> None:
    """The fused path looks the breaker up per call."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=600), clock=fake_clock)
    remotes = {"a": Remote(up=False), "b": Remote()}

    @resilient(lambda name, _key: name, breaker=registry)
    def get(name: str, key: str) -> str:
        return remotes[name].get(key)

    with pytest.raises(ConnectionRefusedError):
        get("a", "x")
    with pytest.raises(CircuitOpenError):
        get("a", "x")
    assert get("b", "x") == "value of x"


async def test_fused_async_decorator_retries_then_succeeds(fake_clock: FakeClock) -> None:
    """The async fused path counts the inline attempt and retries through the breaker."""
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=5), clock=fake_clock)
    answers: list[BaseException | str] = [TimeoutError(), TimeoutError(), "ok"]
    failures_seen: list[int] = []

    @resilient(retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock), breaker=breaker)
    async def fetch() -> str:
        failures_seen.append(breaker.snapshot().consecutive_failures)
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert inspect.iscoroutinefunction(fetch)
    assert await fetch() == "ok"
    assert failures_seen == [0, 1, 2]
    assert breaker.snapshot().consecutive_failures == 0


async def test_fused_async_decorator_falls_back_on_final_failure(fake_clock: FakeClock) -> None:
    """The async fused path ends in the (async) fallback."""
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=2), clock=fake_clock)

    async def fallback(exc: BaseException) -> str:
        return f"cached ({type(exc).__name__})"

    @resilient(
        retry=RetryPolicy(attempts=3, backoff=NO_WAIT, clock=fake_clock),
        breaker=breaker,
        fallback=fallback,
    )
    async def fetch() -> str:
        raise ConnectionResetError

    assert await fetch() == "cached (CircuitOpenError)"
    assert breaker.state is CircuitState.OPEN


def test_fused_decorator_stale_success_leaves_a_later_count_alone(fake_clock: FakeClock) -> None:
    """A success admitted before a reset does not wipe the failures counted after it."""
    breaker = CircuitBreaker("r", BreakerConfig(failure_threshold=3), clock=fake_clock)
    down = Remote(up=False)
    fail = resilient(breaker=breaker)(down.get)

    @resilient(breaker=breaker)
    def outlives_a_reset() -> str:
        breaker.force_open()
        breaker.reset()
        for _ in range(2):
            with pytest.raises(ConnectionRefusedError):
                fail()
        return "late"

    assert outlives_a_reset() == "late"
    assert breaker.snapshot().consecutive_failures == 2
    with pytest.raises(ConnectionRefusedError):
        fail()
    assert breaker.state is CircuitState.OPEN


async def test_an_async_calls_own_timeout_error_is_not_reported_as_the_time_limit() -> None:
    """A TimeoutError the coroutine raises itself passes through, not as CallTimeoutError."""

    async def socket_timeout() -> str:
        raise TimeoutError("read timed out")

    with pytest.raises(TimeoutError, match="read timed out") as info:
        await resilient(timeout=60).acall(socket_timeout)
    assert not isinstance(info.value, CallTimeoutError)


def test_an_open_circuit_goes_to_the_fallback_at_once_with_the_readme_config(
    fake_clock: FakeClock,
) -> None:
    """With a 30 s deadline and 60 s open period, a rejected call falls back without waiting."""
    registry = BreakerRegistry(
        BreakerConfig(failure_threshold=5, open_for=60, success_threshold=3), clock=fake_clock
    )
    seen: list[BaseException] = []

    def fallback(exc: BaseException, remote: str) -> str:
        seen.append(exc)
        return "cached"

    retry = RetryPolicy(
        attempts=3, backoff=Backoff(initial=0.2, max=5), deadline=30, clock=fake_clock
    )
    policy = resilient(lambda remote: remote, retry=retry, breaker=registry, fallback=fallback)
    breaker = registry.get("s3")
    for _ in range(5):
        with pytest.raises(ConnectionError):
            breaker.call(Remote(up=False).get)
    fake_clock.advance(30)  # a trial call is 30 s away: within the deadline, and yet
    assert policy.call(Remote().get, "s3") == "cached"
    assert fake_clock.monotonic() == 30.0
    assert isinstance(seen[0], CircuitOpenError)
    assert seen[0].retry_after == 30.0


class _UnprintableArgument:
    """An exception argument whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


def test_a_hostile_error_passes_through_resilient_as_itself(fake_clock: FakeClock) -> None:
    """An error whose argument's repr raises reaches the fallback, and the caller, as itself."""
    error = ConnectionResetError(_UnprintableArgument())

    def down() -> str:
        raise error

    retry = RetryPolicy(attempts=2, backoff=NO_WAIT, clock=fake_clock)
    seen: list[BaseException] = []

    def fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "cached"

    assert resilient(retry=retry, fallback=fallback).call(down) == "cached"
    assert seen == [error]
    with pytest.raises(ConnectionResetError) as info:
        resilient(retry=retry)(down)()
    assert info.value is error


def test_the_tenacity_state_of_a_composed_call_names_the_callers_function(
    fake_clock: FakeClock,
) -> None:
    """Through resilient(), a tenacity wait sees the caller's fn and arguments, from the start."""
    seen: list[tuple[object, ...]] = []

    class Recording(tenacity.wait.wait_base):
        def __call__(self, retry_state: tenacity.RetryCallState) -> float:
            state = retry_state
            seen.append((state.fn, state.args, state.kwargs, state.seconds_since_start))
            return 0.0

    def slow(key: str) -> str:
        fake_clock.advance(2)
        raise ConnectionResetError(key)

    policy = resilient(
        retry=RetryPolicy(attempts=2, wait=Recording(), clock=fake_clock),
        breaker=CircuitBreaker("r", clock=fake_clock),
    )
    with pytest.raises(ConnectionResetError):
        policy.call(slow, "k")
    assert seen == [(slow, ("k",), {}, 2.0)]
