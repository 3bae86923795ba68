"""One call of a client integration: through its remote's breaker, retried attempt by attempt.

The httpx, requests, aiohttp and gRPC integrations differ in how they send a request and
read its answer; how an attempt goes through the breaker, which failed attempt is the
last whatever the retry policy would say, and what becomes of an error response are
decided here, once. :func:`call` and :func:`acall` differ only in ``await``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar, cast

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification
from resilience._classify.verdict import RETRYABLE
from resilience._retry.attempts import Attempts
from resilience._retry.policy import RetryPolicy

__all__ = [
    "DEFAULT_RETRY",
    "FailedResponse",
    "acall",
    "call",
    "checked_registry",
    "last_attempt",
    "rejection",
]

DEFAULT_RETRY: Final = RetryPolicy(attempts=3)
# A retry is pointless while the remote's circuit rejects calls: the failure just seen may
# have opened it, or another call holds the half-open trial.
_REJECTING: Final = frozenset({CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.FORCED_OPEN})

R = TypeVar("R")
E = TypeVar("E", bound=CircuitOpenError)


class FailedResponse(Exception, Generic[R]):  # noqa: N818 - it carries a response
    """An HTTP error response (400 and above) on its way through breaker and retries.

    Each client integration raises its own subclass inside the breaker and the retry
    policy, whose classifiers judge it through ``.response`` (its status and
    ``Retry-After``); the caller gets the response itself back. The message names the
    status only: a URL may hold secrets.

    Attributes:
        response: The response as it came.
        verdict: Its classification by the integration's classifier.
    """

    def __init__(self, response: R, verdict: Classification, message: str) -> None:
        super().__init__(message)
        self.response = response
        self.verdict = verdict


def checked_registry(
    retry: RetryPolicy | None, breakers: BreakerRegistry | None, *, per: str
) -> BreakerRegistry:
    """The breakers of an integration (a new registry by default), once both are checked.

    Raises:
        TypeError: If ``retry`` is not a :class:`RetryPolicy` or ``breakers`` not a
            :class:`BreakerRegistry` (one breaker ``per`` remote), and not None.
    """
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
    if breakers is not None and not isinstance(breakers, BreakerRegistry):
        raise TypeError(
            f"breakers must be a BreakerRegistry (one breaker per {per}) or None, got {breakers!r}"
        )
    return breakers if breakers is not None else BreakerRegistry()


def last_attempt(breaker: CircuitBreaker, exc: Exception) -> bool:
    """Whether a failed attempt is the last, whatever the retry policy would say.

    A response the classifier judges final is returned as it came; while the remote's
    circuit rejects calls (the failure just seen may have opened it, or another call
    holds the half-open trial) a retry is pointless.
    """
    if isinstance(exc, FailedResponse) and exc.verdict.kind is not RETRYABLE:
        return True
    state = breaker.state
    if state in _REJECTING and not isinstance(exc, CircuitOpenError):
        if not isinstance(exc, FailedResponse):
            exc.add_note(f"resilience: not retried: circuit {breaker.name!r} is {state.name}")
        return True
    return False


def rejection(exc: CircuitOpenError, kind: type[E], /, **context: object) -> E:
    """The rejection ``exc`` as a ``kind`` (the client library's error too), with its notes.

    ``context`` goes to ``kind`` (the request that was not sent); ``exc`` itself is
    returned when it is a ``kind`` already.
    """
    if isinstance(exc, kind):
        return exc
    error = kind(exc.name, exc.state, exc.retry_after, exc.reason, **context)
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    return error


class _Outcome:
    """How an attempt failed, judged before the retry policy sees it.

    The last attempt's failure is kept from the policy, which would retry it or note it
    as given up on, and raised by :meth:`settle` after the attempt; the error response of
    an attempt the policy retries is handed back to be released.
    """

    __slots__ = ("_breaker", "_failed", "_final")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._final: Exception | None = None
        self._failed: object = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, _kind: object, exc: BaseException | None, _tb: object) -> bool:
        if not isinstance(exc, Exception):
            return False  # a success, or a BaseException (a cancellation): passed on as is
        if last_attempt(self._breaker, exc):
            self._final = exc
            return True  # the attempt ends as no failure: the policy does not see it
        self._failed = exc.response if isinstance(exc, FailedResponse) else None
        return False  # the policy decides

    def settle(self) -> object:
        """The error response the policy retries, if any; the last failure is raised."""
        if self._final is not None:
            raise self._final
        return self._failed


def call(
    breaker: CircuitBreaker,
    attempts: Attempts | None,
    fn: Callable[..., R],
    /,
    *args: object,
    release: Callable[[Any], object] | None = None,
) -> R:
    """``fn(*args)`` through ``breaker``, as often as ``attempts`` allow (None: once).

    A :class:`FailedResponse` ends as its response, untouched: the caller reads it as if
    it was sent once; one that is retried goes to ``release`` first.
    """
    try:
        if attempts is None:
            return breaker.call(fn, *args)
        outcome = _Outcome(breaker)
        for attempt in attempts:
            with attempt, outcome:
                return breaker.call(fn, *args)
            failed = outcome.settle()
            if failed is not None and release is not None:
                release(failed)
    except FailedResponse as exc:
        return cast("R", exc.response)
    raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover


async def acall(
    breaker: CircuitBreaker,
    attempts: Attempts | None,
    fn: Callable[..., Awaitable[R]],
    /,
    *args: object,
    release: Callable[[Any], Awaitable[object]] | None = None,
) -> R:
    """The async :func:`call`: ``fn`` and ``release`` are awaited."""
    try:
        if attempts is None:
            return await breaker.acall(fn, *args)
        outcome = _Outcome(breaker)
        async for attempt in attempts:
            with attempt, outcome:
                return await breaker.acall(fn, *args)
            failed = outcome.settle()
            if failed is not None and release is not None:
                await release(failed)
    except FailedResponse as exc:
        return cast("R", exc.response)
    raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover
