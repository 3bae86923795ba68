"""RetryPolicy(retry_on_result=...): unwanted results retried like failures, in every form."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import tenacity

from resilience import (
    Backoff,
    BatchProcessor,
    CircuitBreaker,
    Classifier,
    FailureKind,
    Pipeline,
    RetryBudget,
    RetryPolicy,
    RetryResultError,
    RetryScheduled,
    resilient,
    retry_on_status,
)
from resilience.testing import FakeClock, set_testing


def no_jitter(initial: float = 1.0) -> Backoff:
    return Backoff(initial=initial, multiplier=2.0, max=100.0, jitter="none")


@dataclass
class Returns:
    """Returns the given values in turn (the last one forever); records call times."""

    clock: FakeClock
    values: list[object]
    calls: list[float] = field(default_factory=list)

    def __call__(self, *args: object) -> object:
        self.calls.append(self.clock.monotonic())
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


@dataclass(frozen=True)
class Response:
    """A response the way requests and httpx expose one: a status code and headers."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def none_policy(clock: FakeClock, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(
        attempts=3,
        backoff=no_jitter(),
        clock=clock,
        retry_on_result=lambda r: r is None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_an_unwanted_result_is_retried_with_the_backoff(fake_clock: FakeClock) -> None:
    """None twice, then a value: three calls, 1 s then 2 s apart, and the value returned."""
    fn = Returns(fake_clock, [None, None, "ok"])
    assert none_policy(fake_clock)(fn)() == "ok"
    assert fn.calls == [0.0, 1.0, 3.0]


def test_give_up_raises_with_the_last_result_and_a_note(fake_clock: FakeClock) -> None:
    """After the last attempt, RetryResultError carries the value, the count and every attempt."""
    fn = Returns(fake_clock, [None])
    with pytest.raises(RetryResultError) as caught:
        none_policy(fake_clock).call(fn)
    error = caught.value
    assert error.result is None
    assert error.attempts == 3
    assert "returned None (retry_on_result) after 3 attempts" in str(error)
    note = "\n".join(error.__notes__)
    assert "gave up after 3 attempts: 3 attempts made (attempts=3)" in note
    assert (
        "attempt 1: RetryResultError('returned None') [RETRYABLE: retry_on_result], then waited 1 s"
        in note
    )
    assert len(fn.calls) == 3


def test_a_wanted_result_is_returned_at_once(fake_clock: FakeClock) -> None:
    """A value the predicate keeps is returned from the first call, with no wait."""
    fn = Returns(fake_clock, [0])
    assert none_policy(fake_clock).call(fn) == 0
    assert fn.calls == [0.0]


def test_failures_are_still_retried_beside_results(fake_clock: FakeClock) -> None:
    """An exception, then None, then a value: one run counts both kinds of attempt."""
    outcomes: list[object] = [ConnectionResetError("reset"), None, "ok"]

    def fn() -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert none_policy(fake_clock).call(fn) == "ok"
    assert fake_clock.monotonic() == 3.0


def test_async_forms(fake_clock: FakeClock) -> None:
    """acall() and an async decorated function retry results the same way."""
    policy = none_policy(fake_clock)
    values: list[object] = [None, "a", None, "b"]

    async def fetch() -> object:
        return values.pop(0)

    assert asyncio.run(policy.acall(fetch)) == "a"
    assert asyncio.run(policy(fetch)()) == "b"
    assert fake_clock.monotonic() == 2.0


def test_attempts_iterator_judges_what_set_result_hands_it(fake_clock: FakeClock) -> None:
    """for attempt in policy: set_result(None) is retried; a block without it is a success."""
    values: list[object] = [None, None, "ok"]
    got = []
    for attempt in none_policy(fake_clock):
        with attempt:
            value = values.pop(0)
            attempt.set_result(value)
        got.append((attempt.number, value, attempt.wait))
    assert got == [(1, None, 1.0), (2, None, 2.0), (3, "ok", None)]
    numbers = []
    for attempt in none_policy(fake_clock):
        with attempt:
            numbers.append(attempt.number)  # returns None, but hands nothing to the policy
    assert numbers == [1]


def test_attempts_iterator_gives_up_with_the_error(fake_clock: FakeClock) -> None:
    """The last unwanted result handed to set_result raises RetryResultError from the block."""

    def loop() -> None:
        for attempt in none_policy(fake_clock):
            with attempt:
                attempt.set_result(None)

    with pytest.raises(RetryResultError) as caught:
        loop()
    assert caught.value.attempts == 3


def test_async_attempts_iterator(fake_clock: FakeClock) -> None:
    """async for attempt in policy: the same judgement of set_result's value."""
    values: list[object] = [None, "ok"]

    async def main() -> object:
        async for attempt in none_policy(fake_clock):
            with attempt:
                value = values.pop(0)
                attempt.set_result(value)
        return value

    assert asyncio.run(main()) == "ok"


def test_retry_on_status_honours_retry_after_seconds(fake_clock: FakeClock) -> None:
    """A 503 with Retry-After: 7 waits 7 s, longer than the 1 s backoff; a 200 is kept."""
    fn = Returns(fake_clock, [Response(503, {"Retry-After": "7"}), Response(200)])
    policy = RetryPolicy(
        backoff=no_jitter(), clock=fake_clock, retry_on_result=retry_on_status(503)
    )
    assert policy.call(fn) == Response(200)
    assert fn.calls == [0.0, 7.0]


def test_retry_after_is_capped_and_can_be_ignored(fake_clock: FakeClock) -> None:
    """max_retry_after caps the wait; respect_retry_after=False keeps the backoff alone."""
    slow = Response(503, {"retry-after": "600"})
    capped = Returns(fake_clock, [slow, Response(200)])
    RetryPolicy(
        backoff=no_jitter(),
        clock=fake_clock,
        max_retry_after=30,
        retry_on_result=retry_on_status(503),
    ).call(capped)
    assert capped.calls == [0.0, 30.0]
    ignored = Returns(fake_clock, [slow, Response(200)])
    RetryPolicy(
        backoff=no_jitter(),
        clock=fake_clock,
        respect_retry_after=False,
        retry_on_result=retry_on_status(503),
    ).call(ignored)
    assert ignored.calls == [30.0, 31.0]


def test_retry_after_as_an_http_date() -> None:
    """An HTTP-date Retry-After is read on the helper's wall clock: 20 s from now."""
    clock = FakeClock()
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=20), usegmt=True)
    fn = Returns(clock, [Response(429, {"Retry-After": later}), Response(200)])
    predicate = retry_on_status(429, wall_clock=now.timestamp)
    assert predicate(Response(429, {"Retry-After": later})) == 20.0
    RetryPolicy(backoff=no_jitter(), clock=clock, retry_on_result=predicate).call(fn)
    assert fn.calls == [0.0, 20.0]


def test_retry_on_status_without_statuses_follows_the_classifier() -> None:
    """With no statuses: 503, 429, 408 are retried; 200, 404, 501 and a non-response kept."""
    predicate = retry_on_status()
    assert [predicate(Response(s)) for s in (503, 429, 408)] == [True, True, True]
    assert [predicate(Response(s)) for s in (200, 404, 501)] == [False, False, False]
    assert predicate("not a response") is False
    assert repr(retry_on_status(503, 429)) == "retry_on_status(429, 503)"


def test_a_number_or_timedelta_from_the_predicate_is_a_least_wait(fake_clock: FakeClock) -> None:
    """A predicate answering 5 (or timedelta(seconds=5)) retries after 5 s, not the 1 s backoff."""
    answers: tuple[object, ...] = (5, 5.0, timedelta(seconds=5))
    for answer in answers:
        start = fake_clock.monotonic()
        fn = Returns(fake_clock, ["again", "ok"])

        def judge(value: object, answer: object = answer) -> object:
            return answer if value == "again" else False

        policy = RetryPolicy(backoff=no_jitter(), clock=fake_clock, retry_on_result=judge)
        assert policy.call(fn) == "ok"
        assert fn.calls == [start, start + 5.0]


def test_a_zero_from_the_predicate_retries(fake_clock: FakeClock) -> None:
    """0 seconds is a wait, not a "no": the result is retried after the backoff."""
    fn = Returns(fake_clock, ["again", "ok"])
    policy = RetryPolicy(
        backoff=no_jitter(), clock=fake_clock, retry_on_result=lambda r: 0 if r == "again" else None
    )
    assert policy.call(fn) == "ok"
    assert fn.calls == [0.0, 1.0]


def test_a_bad_wait_from_the_predicate_is_a_value_error(fake_clock: FakeClock) -> None:
    """A negative wait answered by the predicate raises ValueError naming retry_on_result."""
    policy = RetryPolicy(clock=fake_clock, retry_on_result=lambda _: -1)
    with pytest.raises(ValueError, match=r"retry_on_result returned -1"):
        policy.call(lambda: "x")


def test_a_predicate_that_raises_reaches_the_caller(fake_clock: FakeClock) -> None:
    """The predicate's own error is the call's outcome: nothing is retried on it."""

    def judge(value: object) -> bool:
        raise KeyError(value)

    fn = Returns(fake_clock, ["x"])
    with pytest.raises(KeyError):
        RetryPolicy(clock=fake_clock, retry_on_result=judge).call(fn)
    assert len(fn.calls) == 1


def test_deadline_and_budget_end_result_retries(fake_clock: FakeClock) -> None:
    """A wait past the deadline, or a spent budget, gives up at once with the note saying why."""
    with pytest.raises(RetryResultError) as late:
        none_policy(fake_clock, deadline=2.0).call(Returns(fake_clock, [None]))
    assert "would pass the deadline of 2 s" in late.value.__notes__[0]
    budget = RetryBudget(ratio=0.0, min_per_second=0.0, clock=fake_clock)
    with pytest.raises(RetryResultError) as spent:
        none_policy(fake_clock, budget=budget).call(Returns(fake_clock, [None]))
    assert "retry budget spent" in spent.value.__notes__[0]
    assert spent.value.attempts == 1


def test_testing_mode_zeroes_waits_and_caps_attempts(fake_clock: FakeClock) -> None:
    """set_testing(attempts=2): two attempts and no time spent waiting."""
    fn = Returns(fake_clock, [None])
    with set_testing(attempts=2), pytest.raises(RetryResultError):
        none_policy(fake_clock).call(fn)
    assert fn.calls == [0.0, 0.0]


def test_on_retry_sees_the_unwanted_result(fake_clock: FakeClock) -> None:
    """The RetryScheduled event's error is a RetryResultError whose result is the value."""
    seen: list[RetryScheduled] = []
    policy = none_policy(fake_clock, on_retry=seen.append)
    policy.call(Returns(fake_clock, [None, "ok"]))
    assert len(seen) == 1
    assert isinstance(seen[0].error, RetryResultError)
    assert seen[0].error.result is None
    assert seen[0].delay == 1.0


def test_a_fallback_takes_over_from_the_give_up(fake_clock: FakeClock) -> None:
    """resilient(): the fallback gets the RetryResultError; the breaker saw only successes."""
    breaker = CircuitBreaker("results", clock=fake_clock)
    guarded = resilient(
        retry=none_policy(fake_clock),
        breaker=breaker,
        fallback=lambda exc, *_: ("fallback", type(exc).__name__, exc.result),
    )
    assert guarded.call(Returns(fake_clock, [None])) == ("fallback", "RetryResultError", None)
    assert breaker.snapshot().state.name == "CLOSED"


def test_in_a_pipeline_with_a_breaker(fake_clock: FakeClock) -> None:
    """Pipeline(retry, breaker) decorating a function retries its unwanted result."""
    fn = Returns(fake_clock, [None, "ok"])
    guarded = Pipeline(none_policy(fake_clock), CircuitBreaker("p", clock=fake_clock))(fn)
    assert guarded() == "ok"
    assert len(fn.calls) == 2


def test_batch_items_are_retried_on_their_result(fake_clock: FakeClock) -> None:
    """A batch's retry_on_result retries an item's unwanted result, then records it failed."""
    calls: dict[int, int] = {}

    def handle(item: int) -> object:
        calls[item] = calls.get(item, 0) + 1
        return None if item == 2 or calls[item] == 1 else item

    batch = BatchProcessor("results", handle, retry=none_policy(fake_clock), clock=fake_clock)
    result = batch.run([1, 2])
    assert calls == {1: 2, 2: 3}
    assert [(f.key, f.attempts) for f in result.failed] == [(2, 3)]
    assert result.failed[0].error.startswith("RetryResultError: the call returned None")


def test_passive_only_without_a_predicate() -> None:
    """A plain policy stays passive (its success costs nothing); one with a predicate is not."""
    assert RetryPolicy().passive is True
    assert RetryPolicy(retry_on_result=lambda r: r is None).passive is False


def test_bad_input_names_the_field() -> None:
    """A predicate that is not callable, or a status out of range, is refused by name."""
    with pytest.raises(TypeError, match=r"retry_on_result=\.\.\.\) must be a predicate"):
        RetryPolicy(retry_on_result=503)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"retry_on_status\(statuses=\.\.\.\).*got 700"):
        retry_on_status(700)
    with pytest.raises(TypeError, match=r"wall_clock=\.\.\.\) must be callable"):
        retry_on_status(503, wall_clock=1.0)  # type: ignore[arg-type]
    assert "retry_on_result" in repr(RetryPolicy(retry_on_result=bool).replace(attempts=2))


class _Flapping(http.server.BaseHTTPRequestHandler):
    """Answers 503 with Retry-After: 3 to every other request, 200 to the rest."""

    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        if type(self).served % 2:
            self.send_response(503)
            self.send_header("Retry-After", "3")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def flapping_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flapping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_real_httpx_responses_from_a_loopback_server(
    flapping_url: str, fake_clock: FakeClock
) -> None:
    """httpx against a real server: the 503's Retry-After of 3 s is waited, then 200 returned."""
    policy = RetryPolicy(clock=fake_clock, retry_on_result=retry_on_status(503))
    with httpx.Client() as client:
        response = policy.call(client.get, flapping_url)
    assert response.status_code == 200
    assert fake_clock.monotonic() >= 3.0


def test_tenacity_retry_if_result_is_accepted(fake_clock: FakeClock) -> None:
    """tenacity's retry_if_result, combined with |, judges the value as it would in tenacity."""
    fn = Returns(fake_clock, [None, "", "ok"])
    either = tenacity.retry_if_result(lambda r: r is None) | tenacity.retry_if_result(
        lambda r: r == ""
    )
    policy = RetryPolicy(backoff=no_jitter(), clock=fake_clock, retry_on_result=either)
    assert policy.call(fn) == "ok"
    assert fn.calls == [0.0, 1.0, 3.0]


def test_a_given_up_response_is_classified_by_its_status(fake_clock: FakeClock) -> None:
    """Giving up on a 503 is RETRYABLE with its Retry-After; giving up on None is not."""
    policy = RetryPolicy(clock=fake_clock, retry_on_result=retry_on_status(503))
    with pytest.raises(RetryResultError) as caught:
        policy.call(lambda: Response(503, {"Retry-After": "9"}))
    verdict = Classifier.default().classify(caught.value)
    assert (verdict.kind, verdict.retry_after) == (FailureKind.RETRYABLE, 9.0)
    assert caught.value.response is caught.value.result
    with pytest.raises(RetryResultError) as plain:
        none_policy(fake_clock).call(lambda: None)
    assert plain.value.response is None
    assert Classifier.default().classify(plain.value).kind is FailureKind.PERMANENT
