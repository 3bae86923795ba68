"""What every resilient HTTP client integration decides the same way, whatever the library.

The httpx transports, the requests adapter and the aiohttp middleware differ in how they
send a request and read a response; which request may be retried, how a response is
judged, and which error body is worth draining are decided here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from typing import ClassVar, Final, Generic, Protocol, TypeVar

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier
from resilience._retry.attempts import Attempts
from resilience._retry.policy import RetryPolicy
from resilience.contrib._calls import checked_registry

__all__ = ["IDEMPOTENT", "HTTPDecisions", "HoldsDecisions", "drainable"]

IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""The methods retried by default (RFC 9110 §9.2.2)."""

# A small error body is read before a retry so that its connection goes back to the pool
# (as urllib3 does); a large or unsized one is not worth the wait, and closing it only
# costs the connection.
_DRAIN_MAX: Final = 64 * 1024



class Request(Protocol):
    """What the decisions read of a request, whichever library's it is."""

    @property
    def headers(self) -> Container[str]:
        """Its headers, looked up without regard to case."""
        ...


Q = TypeVar("Q", bound=Request)


def drainable(content_length: str | None) -> bool:
    """Whether an error body of this ``Content-Length`` is read before a retry."""
    length = content_length or ""
    return length.isdigit() and int(length) <= _DRAIN_MAX


class HTTPDecisions(Generic[Q]):
    """The configuration of a resilient HTTP client and the per-request decisions.

    ``Q`` is the library's request type; ``key`` names the breaker of a request.
    """

    # Positional: an integration passes its own keyword arguments on, in their order.
    def __init__(
        self,
        retry: RetryPolicy | None,
        breakers: BreakerRegistry | None,
        classifier: Classifier | None,
        retry_methods: Iterable[str],
        key: Callable[[Q], str],
        /,
    ) -> None:
        registry = checked_registry(retry, breakers, per="host")
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
        self._breakers = registry
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

    def plan(
        self, send: Callable[..., object], request: Q, *, method: str, replayable: bool
    ) -> tuple[CircuitBreaker, Attempts | None]:
        """The breaker of ``request`` and its attempts, None when it is sent only once.

        A request is retried when its method is one of ``retry_methods`` or it carries an
        ``Idempotency-Key`` header, and only when its body can be sent again. The retry
        state names ``send`` and the request, the call and its argument.
        """
        breaker = self.breaker_of(request)
        retry = self._retry
        if retry is None or not replayable:
            return breaker, None
        if method.upper() not in self._methods and "idempotency-key" not in request.headers:
            return breaker, None
        return breaker, retry.attempts(send, request)

    def classify_status(self, status: int, headers: object) -> Classification:
        """The classifier's verdict on an error response."""
        return self._classifier.classify_status(status, headers)

    def describe(self, name: str, transport: object) -> str:
        """The repr of an integration wrapping ``transport``."""
        return (
            f"{name}(transport={transport!r}, retry={self._retry!r}, "
            f"breakers={self._breakers!r}, retry_methods={sorted(self._methods)!r})"
        )


class HoldsDecisions(Generic[Q]):
    """``breakers`` and the repr of an integration that keeps its :class:`HTTPDecisions`."""

    _decisions: HTTPDecisions[Q]
    _SENDS_WITH: ClassVar[str]  # what does the I/O, as the repr names it

    @property
    def breakers(self) -> BreakerRegistry:
        """The breakers, one per host (per name given by ``key``)."""
        return self._decisions.breakers

    def __repr__(self) -> str:
        return self._decisions.describe(type(self).__name__, self._SENDS_WITH)
