"""Retry on a result: a call that returned, but returned what is not worth keeping.

``RetryPolicy(retry_on_result=predicate)`` asks ``predicate(value)`` of every value a call
returns. A truthy answer makes the value an unwanted result: it is retried exactly as a
RETRYABLE failure is (the same backoff, caps, budget, deadline and testing mode), and
when the policy gives up, :class:`RetryResultError` carries the last value to the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Final

import tenacity

from resilience._classify.classifier import Classification, Classifier
from resilience._classify.http import as_status, attribute, retry_after
from resilience._classify.verdict import RETRYABLE
from resilience._core.clock import wall_time
from resilience._core.errors import ResilienceError
from resilience._core.strategy import Replace
from resilience._core.text import safe_repr
from resilience._retry.run import Run, Settings

__all__ = ["ResultCheck", "RetryOnStatus", "RetryResultError", "retry_on_status"]

_BACKOFF: Final = Classification(RETRYABLE, "retry_on_result")


class RetryResultError(ResilienceError):
    """A retry policy gave up while the call still returned an unwanted result.

    Raised instead of returning that value: a value the policy rejected must not pass for a
    good one (tenacity raises its ``RetryError`` here too). An outer fallback takes over
    from it like from any failure.

    Attributes:
        result: The value the last attempt returned.
        attempts: The attempts made, counting the first.
        response: The result again when it is an HTTP response (it has a status), where
            the classifier looks for one: a 503 stays RETRYABLE for a batch or an outer
            policy, with its Retry-After. None otherwise.
    """

    def __init__(self, result: object, attempts: int, reason: str) -> None:
        super().__init__(f"returned {safe_repr(result)}")  # one line of the give-up note
        self.result = result
        self.attempts = attempts
        self.reason = reason
        has_status = any(as_status(attribute(result, n)) for n in ("status_code", "status"))
        self.response = result if has_status else None

    def __str__(self) -> str:
        plural = "s" if self.attempts != 1 else ""
        return (
            f"the call returned {safe_repr(self.result)} ({self.reason}) after "
            f"{self.attempts} attempt{plural}, and the retry policy gave up on it; the value "
            "is on this error's .result"
        )


def _hint(answer: object) -> float | None:
    """The wait a predicate's answer asks for: seconds, or None for plain backoff."""
    if isinstance(answer, timedelta):
        answer = answer.total_seconds()
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        wait = float(answer)
        if not math.isfinite(wait) or wait < 0:
            raise ValueError(
                f"retry_on_result returned {answer!r}: a wait must be a finite number of "
                "seconds >= 0 (or True for the policy's backoff, False to keep the result)"
            )
        return wait
    return None


class ResultCheck:
    """A retry policy's ``after`` when it has a ``retry_on_result`` predicate."""

    __slots__ = ("_judge", "_settings")

    def __init__(self, settings: Settings, predicate: Callable[[object], object]) -> None:
        self._settings = settings
        verdict = predicate.verdict if isinstance(predicate, RetryOnStatus) else None
        self._judge: Callable[[object], Classification | None] = (
            verdict if verdict is not None else _judged_by(predicate)
        )

    def __call__(
        self, run: Run, value: object, exc: BaseException | None
    ) -> float | Replace | None:
        """A failure as any retry judges it; a result by the predicate."""
        s = self._settings
        if exc is not None:
            return s.after(run, value, exc)
        verdict = self._judge(value)
        if verdict is None:
            return None  # a wanted result
        attempt = len(run) - 2  # [start, state, partial, *tries]
        error = RetryResultError(value, attempt, verdict.reason)
        delay = s.after(run, None, error, verdict)
        if delay is None:
            return Replace(error=error)  # given up: the error carries the last result
        return delay


def _tenacity(retry: tenacity.retry_base) -> Callable[[object], object]:
    """Tenacity's ``retry_if_result(...)`` (and ``|``, ``&`` of them) on a value."""

    def predicate(value: object) -> bool:
        state = tenacity.RetryCallState.__new__(tenacity.RetryCallState)  # no real clock
        outcome = tenacity.Future(1)
        outcome.set_result(value)
        state.outcome = outcome
        return bool(retry(state))

    return predicate


def _judged_by(predicate: Callable[[object], object]) -> Callable[[object], Classification | None]:
    if isinstance(predicate, tenacity.retry_base):
        predicate = _tenacity(predicate)

    def judge(value: object) -> Classification | None:
        answer = predicate(value)
        if answer is True:
            return _BACKOFF
        hint = _hint(answer)  # a number of seconds (0 too) is a wait, not a "no"
        if hint is None:
            return _BACKOFF if answer else None
        return Classification(RETRYABLE, f"retry_on_result asked for {hint:g} s", hint)

    return judge


class RetryOnStatus:
    """A ``retry_on_result`` predicate for responses: retry some statuses, honour Retry-After.

    Built by :func:`retry_on_status`. Reads ``status_code`` (requests, httpx) or
    ``status`` (aiohttp, urllib) and ``headers`` by duck typing; a value with neither is
    kept as it is.
    """

    __slots__ = ("_classifier", "_statuses", "_wall_clock")

    def __init__(self, statuses: frozenset[int] | None, wall_clock: Callable[[], float]) -> None:
        self._statuses = statuses
        self._wall_clock = wall_clock
        self._classifier = Classifier.default(wall_clock=wall_clock)

    def __repr__(self) -> str:
        shown = "" if self._statuses is None else ", ".join(map(str, sorted(self._statuses)))
        return f"retry_on_status({shown})"

    def verdict(self, value: object) -> Classification | None:
        """The classification of a response worth another attempt, or None to keep it."""
        status = as_status(attribute(value, "status_code"))
        if status is None:
            status = as_status(attribute(value, "status"))
        if status is None:
            return None
        headers = attribute(value, "headers")
        if self._statuses is None:
            verdict = self._classifier.classify_status(status, headers)
            return verdict if verdict.kind is RETRYABLE else None
        if status not in self._statuses:
            return None
        wait = retry_after(headers, self._wall_clock) if headers is not None else None
        if wait is not None:
            return Classification(RETRYABLE, f"HTTP {status} (Retry-After {wait:g} s)", wait)
        return Classification(RETRYABLE, f"HTTP {status}")

    def __call__(self, value: object) -> float | bool:
        """Retry-After seconds, True to retry with the backoff, False to keep ``value``."""
        verdict = self.verdict(value)
        if verdict is None:
            return False
        return verdict.retry_after if verdict.retry_after is not None else True


def retry_on_status(*statuses: int, wall_clock: Callable[[], float] | None = None) -> RetryOnStatus:
    """A ``retry_on_result`` predicate that retries responses with one of ``statuses``.

    ``RetryPolicy(retry_on_result=retry_on_status(503, 429))``. With no statuses, those
    the default classifier calls RETRYABLE (408, 429, and 5xx but 501 and 505). A
    Retry-After header (seconds, or an HTTP date read on ``wall_clock``) makes the wait at
    least that long, as for an exception, within the policy's ``max_retry_after``.
    """
    for status in statuses:
        if as_status(status) is None:
            raise ValueError(
                f"retry_on_status(statuses=...) takes HTTP status codes (100..599), got {status!r}"
            )
    if wall_clock is not None and not callable(wall_clock):
        raise TypeError(f"retry_on_status(wall_clock=...) must be callable, got {wall_clock!r}")
    return RetryOnStatus(
        frozenset(statuses) if statuses else None,
        wall_clock if wall_clock is not None else wall_time,
    )
