"""Resilient httpx transports: per-host circuit breakers and retries, under any client.

``httpx.Client(transport=ResilientTransport())`` sends every request through the
breaker of its host and retries what is safe to retry. A response is judged by its
status and ``Retry-After``: a 503 or a 429 is retried and counts against the host; a
404 is returned at once; when the retries run out the last response is returned as it
came, never turned into an exception. Needs the ``httpx`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

try:
    import httpx
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError(
        "resilience.contrib.httpx needs httpx: pip install 'resilience-engine[httpx]'"
    ) from _exc

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier, FailureKind
from resilience._retry.policy import RetryPolicy

__all__ = [
    "IDEMPOTENT",
    "AsyncResilientTransport",
    "CircuitOpenTransportError",
    "ErrorResponse",
    "ResilientTransport",
    "host_key",
]

IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""The methods retried by default (RFC 9110 §9.2.2)."""

_DEFAULT_RETRY: Final = RetryPolicy(attempts=3)
_RETRYABLE: Final = FailureKind.RETRYABLE
# A retry is pointless while the host's circuit rejects calls: the failure just seen may
# have opened it, or another request holds the half-open trial.
_REJECTING: Final = frozenset({CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.FORCED_OPEN})
# A small error body is read before a retry so that its connection goes back to the pool
# (as urllib3 does); a large or unsized one is not worth the wait, and closing it only
# costs the connection.
_DRAIN_MAX: Final = 64 * 1024


class CircuitOpenTransportError(CircuitOpenError, httpx.TransportError):
    """A request rejected by its host's open circuit: nothing was sent.

    Both a :class:`resilience.CircuitOpenError` (with ``name``, ``state``,
    ``retry_after`` and ``reason``) and an ``httpx.TransportError``, so that the
    ``except httpx.TransportError`` (or ``httpx.HTTPError``) httpx code already has
    catches it; ``.request`` is the request that was not sent.
    """

    def __init__(
        self,
        name: str,
        state: CircuitState,
        retry_after: float | None,
        reason: str,
        *,
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(name, state, retry_after, reason)
        self._request = request  # httpx.RequestError's slot behind .request


def _rejected(exc: CircuitOpenError, request: httpx.Request) -> CircuitOpenTransportError:
    """The rejection ``exc`` as an httpx transport error too, keeping its notes."""
    if isinstance(exc, CircuitOpenTransportError):
        return exc
    error = CircuitOpenTransportError(
        exc.name, exc.state, exc.retry_after, exc.reason, request=request
    )
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    return error


def host_key(request: httpx.Request) -> str:
    """The default breaker name of a request: its host, with the port when not the default."""
    return request.url.netloc.decode("ascii")


class ErrorResponse(Exception):  # noqa: N818 - it carries a response, it is not raised to you
    """An HTTP error response (status 400 and above) on its way through breaker and retries.

    Never raised to the caller: the response itself is returned. It is what the breaker's
    and the retry policy's classifiers judge (through ``.response.status_code`` and the
    ``Retry-After`` header), so listeners and ``on_retry`` see it as the ``error`` of a
    failed response. Its message names the status only: a URL may hold secrets.

    Attributes:
        response: The response as it came; before a retry it is closed (a small
            body read first, so that its connection is reused).
        verdict: Its classification by the transport's classifier.
    """

    def __init__(self, response: httpx.Response, verdict: Classification) -> None:
        super().__init__(f"HTTP {response.status_code} {response.reason_phrase}")
        self.response = response
        self.verdict = verdict


def _judge(response: httpx.Response, classifier: Classifier) -> httpx.Response:
    """The response; :class:`ErrorResponse` is raised for a status of 400 and above.

    PERMANENT statuses are raised too, so that the breaker's classifier decides how they
    count (ignored unless ``count_permanent``); they are returned without a retry.
    """
    status = response.status_code
    if status < 400:  # noqa: PLR2004
        return response
    raise ErrorResponse(response, classifier.classify_status(status, response.headers))


def _replayable(request: httpx.Request) -> bool:
    """Whether the body can be sent again: bytes, text, form fields, JSON, or read already."""
    return isinstance(request.stream, httpx.ByteStream)


def _final(breaker: CircuitBreaker, exc: Exception) -> bool:
    """Whether a failed attempt is the last, whatever the retry policy would say.

    A response the classifier judges final is returned as it came; while the host's
    circuit rejects calls (the failure just seen may have opened it, or another request
    holds the half-open trial) a retry is pointless.
    """
    if isinstance(exc, ErrorResponse) and exc.verdict.kind is not _RETRYABLE:
        return True
    state = breaker.state
    if state in _REJECTING and not isinstance(exc, CircuitOpenError):
        if not isinstance(exc, ErrorResponse):
            exc.add_note(f"resilience: not retried: circuit {breaker.name!r} is {state.name}")
        return True
    return False


def _drainable(response: httpx.Response) -> bool:
    length = response.headers.get("content-length", "")
    return length.isdigit() and int(length) <= _DRAIN_MAX


class _Resilience:
    """The configuration and the per-request decisions both transports share."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None,
        breakers: BreakerRegistry | None,
        classifier: Classifier | None,
        retry_methods: Iterable[str],
        key: Callable[[httpx.Request], str] | None,
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
        if key is not None and not callable(key):
            raise TypeError(f"key must be a function of the request returning a name, got {key!r}")
        self._retry = retry
        self._breakers = breakers if breakers is not None else BreakerRegistry()
        if classifier is None:
            classifier = retry.classifier if retry is not None else Classifier.default()
        self._classifier = classifier
        self._methods = frozenset(m.upper() for m in methods)
        self._key = key if key is not None else host_key

    @property
    def breakers(self) -> BreakerRegistry:
        """The breakers, one per host (per name given by ``key``)."""
        return self._breakers

    def _policy_for(self, request: httpx.Request) -> RetryPolicy | None:
        """The retry policy of ``request``, or None when it must be sent only once."""
        retry = self._retry
        if retry is None:
            return None
        if request.method not in self._methods and "idempotency-key" not in request.headers:
            return None
        if not _replayable(request):
            return None
        return retry

    def _describe(self, transport: object) -> str:
        return (
            f"{type(self).__name__}(transport={transport!r}, retry={self._retry!r}, "
            f"breakers={self._breakers!r}, retry_methods={sorted(self._methods)!r})"
        )


class ResilientTransport(_Resilience, httpx.BaseTransport):
    """An httpx transport that sends each request through its host's breaker, with retries.

    Use it as ``httpx.Client(transport=ResilientTransport(...))``.

    Args:
        transport: The transport that does the I/O; ``httpx.HTTPTransport()`` by default.
        retry: The retry policy of retryable requests; None never retries.
        breakers: One breaker per host; a new :class:`BreakerRegistry` by default.
        classifier: Judges responses (``classify_status``) and, for the retries,
            exceptions; the retry policy's classifier by default. The breakers count
            with their registry's classifier.
        retry_methods: The methods retried; a request of another method is retried
            only with an ``Idempotency-Key`` header.
        key: The breaker name of a request; :func:`host_key` by default.

    Raises:
        CircuitOpenTransportError: From :meth:`handle_request`, when the host's circuit
            is open; no request is sent. It is a :class:`CircuitOpenError` and an
            ``httpx.TransportError``.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        classifier: Classifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT,
        key: Callable[[httpx.Request], str] | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise TypeError(
                f"transport must be a sync httpx.BaseTransport, got {transport!r}; an async "
                "transport goes in AsyncResilientTransport"
            )
        super().__init__(
            retry=retry,
            breakers=breakers,
            classifier=classifier,
            retry_methods=retry_methods,
            key=key,
        )
        self._transport = transport if transport is not None else httpx.HTTPTransport()

    def __repr__(self) -> str:
        return self._describe(self._transport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            return self._send(request)
        except CircuitOpenError as exc:
            raise _rejected(exc, request) from None

    def _send(self, request: httpx.Request) -> httpx.Response:
        breaker = self._breakers.get(self._key(request))
        policy = self._policy_for(request)
        if policy is None:
            try:
                return breaker.call(self._attempt, request)
            except ErrorResponse as exc:
                return exc.response
        try:
            # The retry state names the request, the call's argument.
            for attempt in policy.attempts(self.handle_request, request):
                final: Exception | None = None
                failed: httpx.Response | None = None
                with attempt:
                    try:
                        return breaker.call(self._attempt, request)
                    except Exception as exc:
                        if not _final(breaker, exc):
                            failed = exc.response if isinstance(exc, ErrorResponse) else None
                            raise  # the policy decides
                        final = exc
                if final is not None:
                    raise final
                if failed is not None:  # retried: its connection back to the pool first
                    try:
                        if _drainable(failed):
                            failed.read()
                    except httpx.HTTPError:
                        pass  # the connection is dropped instead of reused
                    finally:
                        failed.close()
        except ErrorResponse as exc:
            return exc.response  # untouched: the caller reads it as if sent once
        raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover

    def _attempt(self, request: httpx.Request) -> httpx.Response:
        return _judge(self._transport.handle_request(request), self._classifier)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


class AsyncResilientTransport(_Resilience, httpx.AsyncBaseTransport):
    """The async :class:`ResilientTransport`, for ``httpx.AsyncClient(transport=...)``.

    Takes the same arguments; ``transport`` is ``httpx.AsyncHTTPTransport()`` by default.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        classifier: Classifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT,
        key: Callable[[httpx.Request], str] | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport, got {transport!r}; a sync "
                "transport goes in ResilientTransport"
            )
        super().__init__(
            retry=retry,
            breakers=breakers,
            classifier=classifier,
            retry_methods=retry_methods,
            key=key,
        )
        self._transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    def __repr__(self) -> str:
        return self._describe(self._transport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            return await self._send(request)
        except CircuitOpenError as exc:
            raise _rejected(exc, request) from None

    async def _send(self, request: httpx.Request) -> httpx.Response:
        breaker = self._breakers.get(self._key(request))
        policy = self._policy_for(request)
        if policy is None:
            try:
                return await breaker.acall(self._attempt, request)
            except ErrorResponse as exc:
                return exc.response
        try:
            async for attempt in policy.attempts(self.handle_async_request, request):
                final: Exception | None = None
                failed: httpx.Response | None = None
                with attempt:
                    try:
                        return await breaker.acall(self._attempt, request)
                    except Exception as exc:
                        if not _final(breaker, exc):
                            failed = exc.response if isinstance(exc, ErrorResponse) else None
                            raise  # the policy decides
                        final = exc
                if final is not None:
                    raise final
                if failed is not None:  # retried: its connection back to the pool first
                    try:
                        if _drainable(failed):
                            await failed.aread()
                    except httpx.HTTPError:
                        pass  # the connection is dropped instead of reused
                    finally:
                        await failed.aclose()
        except ErrorResponse as exc:
            return exc.response  # untouched: the caller reads it as if sent once
        raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        return _judge(await self._transport.handle_async_request(request), self._classifier)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
