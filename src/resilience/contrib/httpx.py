"""Resilient httpx transports: per-host circuit breakers and retries, under any client.

``httpx.Client(transport=ResilientTransport())`` sends every request through the
breaker of its host and retries what is safe to retry. A response is judged by its
status and ``Retry-After``: a 503 or a 429 is retried and counts against the host; a
404 is returned at once; when the retries run out the last response is returned as it
came, never turned into an exception. Needs the ``httpx`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, Generic, TypeVar, cast

from resilience._core.extras import missing

try:
    import httpx
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("httpx", "httpx") from _exc

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier
from resilience._retry.policy import RetryPolicy
from resilience.contrib._calls import DEFAULT_RETRY, FailedResponse, acall, call, rejection
from resilience.contrib._http import IDEMPOTENT, HTTPDecisions, drainable

__all__ = [
    "IDEMPOTENT",
    "AsyncResilientTransport",
    "CircuitOpenTransportError",
    "ErrorResponse",
    "ResilientTransport",
    "host_key",
]

T = TypeVar("T", httpx.BaseTransport, httpx.AsyncBaseTransport)


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


def host_key(request: httpx.Request) -> str:
    """The default breaker name of a request: its host, with the port when not the default."""
    return request.url.netloc.decode("ascii")


class ErrorResponse(FailedResponse[httpx.Response]):
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
        super().__init__(response, verdict, f"HTTP {response.status_code} {response.reason_phrase}")


def _judge(response: httpx.Response, decisions: HTTPDecisions[httpx.Request]) -> httpx.Response:
    """The response; :class:`ErrorResponse` is raised for a status of 400 and above.

    PERMANENT statuses are raised too, so that the breaker's classifier decides how they
    count (ignored unless ``count_permanent``); they are returned without a retry.
    """
    status = response.status_code
    if status < 400:  # noqa: PLR2004
        return response
    raise ErrorResponse(response, decisions.classify_status(status, response.headers))


def _replayable(request: httpx.Request) -> bool:
    """Whether the body can be sent again: bytes, text, form fields, JSON, or read already."""
    return isinstance(request.stream, httpx.ByteStream)


def _release(response: httpx.Response) -> None:
    """Give a retried response's connection back to the pool (its small body read first)."""
    try:
        if drainable(response.headers.get("content-length")):
            response.read()
    except httpx.HTTPError:
        pass  # the connection is dropped instead of reused
    finally:
        response.close()


async def _arelease(response: httpx.Response) -> None:
    """The async :func:`_release`."""
    try:
        if drainable(response.headers.get("content-length")):
            await response.aread()
    except httpx.HTTPError:
        pass  # the connection is dropped instead of reused
    finally:
        await response.aclose()


class _Resilience(HTTPDecisions[httpx.Request], Generic[T]):
    """The construction and the per-request decisions both transports share."""

    # The transports a subclass takes, the one it makes by default, and what it says to a
    # wrong one ({!r} stands for it).
    _KIND: ClassVar[tuple[type, Callable[[], object], str]]

    def __init__(
        self,
        transport: T | None = None,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        classifier: Classifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT,
        key: Callable[[httpx.Request], str] | None = None,
    ) -> None:
        accepted, default, mismatch = self._KIND
        if transport is not None and not isinstance(transport, accepted):
            raise TypeError(mismatch.format(transport))
        super().__init__(
            retry, breakers, classifier, retry_methods, key if key is not None else host_key
        )
        self._transport: T = transport if transport is not None else cast("T", default())

    def __repr__(self) -> str:
        return self.describe(type(self).__name__, self._transport)


class ResilientTransport(_Resilience[httpx.BaseTransport], httpx.BaseTransport):
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

    _KIND = (
        httpx.BaseTransport,
        httpx.HTTPTransport,
        (
            "transport must be a sync httpx.BaseTransport, got {!r}; an async transport goes in "
            "AsyncResilientTransport"
        ),
    )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            breaker, attempts = self.plan(
                self.handle_request, request, method=request.method, replayable=_replayable(request)
            )
            return call(breaker, attempts, self._attempt, request, release=_release)
        except CircuitOpenError as exc:
            raise rejection(exc, CircuitOpenTransportError, request=request) from None

    def _attempt(self, request: httpx.Request) -> httpx.Response:
        return _judge(self._transport.handle_request(request), self)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


class AsyncResilientTransport(_Resilience[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport):
    """The async :class:`ResilientTransport`, for ``httpx.AsyncClient(transport=...)``.

    Takes the same arguments; ``transport`` is ``httpx.AsyncHTTPTransport()`` by default.
    """

    _KIND = (
        httpx.AsyncBaseTransport,
        httpx.AsyncHTTPTransport,
        (
            "transport must be an httpx.AsyncBaseTransport, got {!r}; a sync transport goes in "
            "ResilientTransport"
        ),
    )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            breaker, attempts = self.plan(
                self.handle_async_request,
                request,
                method=request.method,
                replayable=_replayable(request),
            )
            return await acall(breaker, attempts, self._attempt, request, release=_arelease)
        except CircuitOpenError as exc:
            raise rejection(exc, CircuitOpenTransportError, request=request) from None

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        return _judge(await self._transport.handle_async_request(request), self)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
