"""The attempts of a client integration's call: what is retried, what is final, what is released."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from resilience import BreakerConfig, BreakerRegistry, CircuitOpenError, CircuitState, RetryPolicy
from resilience._breaker.breaker import CircuitBreaker
from resilience._classify.classifier import Classification, Classifier, FailureKind
from resilience.contrib._calls import FailedResponse, acall, call, rejection
from resilience.testing import FakeClock


class Answer(FailedResponse[str]):
    """An error response whose body is a str."""

    def __init__(self, body: str, kind: FailureKind) -> None:
        super().__init__(body, Classification(kind, body), f"answer {body}")


def breaker_of(clock: FakeClock, threshold: int = 5) -> CircuitBreaker:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=threshold, open_for=60), clock=clock)
    return registry.get("remote")


def retrying(clock: FakeClock, retried: list[object]) -> RetryPolicy:
    # The answers are retried as the remote's failures, whatever their verdict: the
    # verdict alone decides which one is final.
    classifier = Classifier.default().with_rule((Answer, ConnectionError), FailureKind.RETRYABLE)
    return RetryPolicy(attempts=3, clock=clock, classifier=classifier, on_retry=retried.append)


def script(*outcomes: str | Exception) -> tuple[Callable[[str], str], list[str]]:
    """A call that ends, one call after another, as ``outcomes`` say; and its requests."""
    seen: list[str] = []
    left = list(outcomes)

    def send(request: str) -> str:
        seen.append(request)
        outcome = left.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return send, seen


def test_without_attempts_a_call_is_sent_once_and_an_error_response_comes_back(
    fake_clock: FakeClock,
) -> None:
    """No attempts: one call; an error response is returned as it came."""
    send, seen = script(Answer("503", FailureKind.RETRYABLE))
    assert call(breaker_of(fake_clock), None, send, "GET /") == "503"
    assert seen == ["GET /"]


def test_a_retried_error_response_is_released_before_the_next_attempt(
    fake_clock: FakeClock,
) -> None:
    """A retryable response is handed to release; the success ends the call."""
    retried: list[object] = []
    released: list[object] = []
    send, seen = script(Answer("503", FailureKind.RETRYABLE), ConnectionError("reset"), "200")
    policy = retrying(fake_clock, retried)
    breaker = breaker_of(fake_clock)
    result = call(breaker, policy.attempts(send, "GET /"), send, "GET /", release=released.append)
    assert result == "200"
    assert seen == ["GET /"] * 3
    assert released == ["503"]  # an exception holds no response to release
    assert len(retried) == 2


def test_a_final_error_response_is_returned_without_the_policy_seeing_it(
    fake_clock: FakeClock,
) -> None:
    """A response judged final comes back at once: no retry, nothing released."""
    retried: list[object] = []
    released: list[object] = []
    send, seen = script(Answer("404", FailureKind.PERMANENT), "200")
    attempts = retrying(fake_clock, retried).attempts(send, "GET /")
    result = call(breaker_of(fake_clock), attempts, send, "GET /", release=released.append)
    assert result == "404"
    assert seen == ["GET /"]
    assert retried == []
    assert released == []


def test_the_last_error_response_comes_back_when_the_retries_run_out(
    fake_clock: FakeClock,
) -> None:
    """The policy gives up on the third answer: it is returned, the first two released."""
    released: list[object] = []
    send, _ = script(*(Answer(f"503 #{n}", FailureKind.RETRYABLE) for n in (1, 2, 3)))
    attempts = retrying(fake_clock, []).attempts(send, "GET /")
    result = call(breaker_of(fake_clock), attempts, send, "GET /", release=released.append)
    assert result == "503 #3"
    assert released == ["503 #1", "503 #2"]


def test_a_failure_that_opens_the_circuit_is_raised_with_a_note_and_not_retried(
    fake_clock: FakeClock,
) -> None:
    """The breaker opens on the failure just seen: it is raised at once, with a note."""
    retried: list[object] = []
    send, seen = script(ConnectionError("reset"), "200")
    breaker = breaker_of(fake_clock, threshold=1)
    attempts = retrying(fake_clock, retried).attempts(send, "GET /")
    with pytest.raises(ConnectionError) as raised:
        call(breaker, attempts, send, "GET /")
    assert seen == ["GET /"]
    assert retried == []
    assert raised.value.__notes__ == ["resilience: not retried: circuit 'remote' is OPEN"]


async def test_acall_decides_as_call(fake_clock: FakeClock) -> None:
    """The async form retries, releases and returns alike."""
    retried: list[object] = []
    released: list[object] = []
    send, seen = script(Answer("503", FailureKind.RETRYABLE), "200")

    async def asend(request: str) -> str:
        return send(request)

    async def arelease(response: object) -> None:
        released.append(response)

    attempts = retrying(fake_clock, retried).attempts(asend, "GET /")
    result = await acall(breaker_of(fake_clock), attempts, asend, "GET /", release=arelease)
    assert result == "200"
    assert seen == ["GET /"] * 2
    assert released == ["503"]


class LibraryRejectionError(CircuitOpenError, ConnectionError):
    """A client library's own kind of rejection: its connection error too."""


def test_a_rejection_becomes_the_library_s_error_with_its_notes() -> None:
    """The fields and notes are kept; one that is the library's error already is kept whole."""
    exc = CircuitOpenError("remote", CircuitState.OPEN, 5.0, "5 failures")
    exc.add_note("first")
    error = rejection(exc, LibraryRejectionError)
    assert isinstance(error, ConnectionError)
    assert (error.name, error.state, error.retry_after, error.reason) == (
        "remote",
        CircuitState.OPEN,
        5.0,
        "5 failures",
    )
    assert error.__notes__ == ["first"]
    assert rejection(error, LibraryRejectionError) is error
