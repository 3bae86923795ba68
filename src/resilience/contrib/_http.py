"""What every resilient HTTP client integration decides the same way, whatever the library.

The httpx transports, the requests adapter and the aiohttp middleware differ in how they
send a request and read a response; which request may be retried, when a failed attempt
is the last, and which error body is worth draining are decided here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, Generic, TypeVar

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier, FailureKind
from resilience._retry.policy import RetryPolicy

__all__ = [
    "DEFAULT_RETRY",
    "IDEMPOTENT",
    "FailedResponse",
    "HTTPDecisions",
    "drainable",
    "last_attempt",
    "with_notes",
]

IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""The methods retried by default (RFC 9110 §9.2.2)."""

DEFAULT_RETRY: Final = RetryPolicy(attempts=3)
_RETRYABLE: Final = FailureKind.RETRYABLE
# A retry is pointless while the host's circuit rejects calls: the failure just seen may
# have opened it, or another request holds the half-open trial.
_REJECTING: Final = frozenset({CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.FORCED_OPEN})
# A small error body is read before a retry so that its connection goes back to the pool
# (as urllib3 does); a large or unsized one is not worth the wait, and closing it only
# costs the connection.
_DRAIN_MAX: Final = 64 * 1024

R = TypeVar("R")
Q = TypeVar("Q")
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


def last_attempt(breaker: CircuitBreaker, exc: Exception) -> bool:
    """Whether a failed attempt is the last, whatever the retry policy would say.

    A response the classifier judges final is returned as it came; while the host's
    circuit rejects calls (the failure just seen may have opened it, or another request
    holds the half-open trial) a retry is pointless.
    """
    if isinstance(exc, FailedResponse) and exc.verdict.kind is not _RETRYABLE:
        return True
    state = breaker.state
    if state in _REJECTING and not isinstance(exc, CircuitOpenError):
        if not isinstance(exc, FailedResponse):
            exc.add_note(f"resilience: not retried: circuit {breaker.name!r} is {state.name}")
        return True
    return False


def drainable(content_length: str | None) -> bool:
    """Whether an error body of this ``Content-Length`` is read before a retry."""
    length = content_length or ""
    return length.isdigit() and int(length) <= _DRAIN_MAX


def with_notes(error: E, exc: BaseException) -> E:
    """``error`` with the notes of ``exc`` (a rejection re-raised as a library's error)."""
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    return error


class HTTPDecisions(Generic[Q]):
    """The configuration of a resilient HTTP client and the per-request decisions.

    ``Q`` is the library's request type; ``key`` names the breaker of a request.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None,
        breakers: BreakerRegistry | None,
        classifier: Classifier | None,
        retry_methods: Iterable[str],
        key: Callable[[Q], str],
    ) -> None:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
        if breakers is not None and not isinstance(breakers, BreakerRegistry):
            raise TypeError(
                f"breakers must be a BreakerRegistry (one breaker per host) or None, got "
                f"{breakers!r}"
            )
        if classifier is not None and not isinstance(classifier, Classifier):
            raise TypeError(f"classifier must be a Classifier or None, got {classifier!r}")
        # A lone str would be taken as a set of one-letter methods.
        methods = None if isinstance(retry_methods, str) else tuple(retry_methods)
        if methods is None or not all(isinstance(m, str) for m in methods):
            raise TypeError(
                f"retry_methods must be a collection of method names, e.g. "
                f"IDEMPOTENT | {{'POST'}}; got {retry_methods!r}"
            )
        if not callable(key):
            raise TypeError(f"key must be a function of the request returning a name, got {key!r}")
        self._retry = retry
        self._breakers = breakers if breakers is not None else BreakerRegistry()
        if classifier is None:
            classifier = retry.classifier if retry is not None else Classifier.default()
        self._classifier = classifier
        self._methods = frozenset(m.upper() for m in methods)
        self._key = key

    @property
    def breakers(self) -> BreakerRegistry:
        """The breakers, one per host (per name given by ``key``)."""
        return self._breakers

    def breaker_of(self, request: Q) -> CircuitBreaker:
        """The breaker ``request`` goes through."""
        return self._breakers.get(self._key(request))

    def policy(self, method: str, *, idempotency_key: bool, replayable: bool) -> RetryPolicy | None:
        """The retry policy of a request, or None when it must be sent only once.

        A request is retried when its method is one of ``retry_methods`` or it carries an
        ``Idempotency-Key``, and only when its body can be sent again.
        """
        retry = self._retry
        if retry is None or not replayable:
            return None
        if method.upper() not in self._methods and not idempotency_key:
            return None
        return retry

    def classify_status(self, status: int, headers: object) -> Classification:
        """The classifier's verdict on an error response."""
        return self._classifier.classify_status(status, headers)

    def describe(self, name: str, transport: object) -> str:
        """The repr of an integration wrapping ``transport``."""
        return (
            f"{name}(transport={transport!r}, retry={self._retry!r}, "
            f"breakers={self._breakers!r}, retry_methods={sorted(self._methods)!r})"
        )
