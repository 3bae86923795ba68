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

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier
from resilience._retry.policy import RetryPolicy
from resilience.contrib._http import (
    DEFAULT_RETRY,
    IDEMPOTENT,
    FailedResponse,
    HTTPDecisions,
    drainable,
    last_attempt,
    with_notes,
)

__all__ = [
    "IDEMPOTENT",
    "AsyncResilientTransport",
    "CircuitOpenTransportError",
    "ErrorResponse",
    "ResilientTransport",
    "host_key",
]

_DEFAULT_RETRY: Final = DEFAULT_RETRY


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
    return with_notes(error, exc)


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


def _judge(response: httpx.Response, decisions: _Resilience) -> httpx.Response:
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


class _Resilience(HTTPDecisions[httpx.Request]):
    """The configuration and the per-request decisions both transports share."""

    def _policy_for(self, request: httpx.Request) -> RetryPolicy | None:
        """The retry policy of ``request``, or None when it must be sent only once."""
        return self.policy(
            request.method,
            idempotency_key="idempotency-key" in request.headers,
            replayable=_replayable(request),
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
            key=key if key is not None else host_key,
        )
        self._transport = transport if transport is not None else httpx.HTTPTransport()

    def __repr__(self) -> str:
        return self.describe(type(self).__name__, self._transport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            return self._send(request)
        except CircuitOpenError as exc:
            raise _rejected(exc, request) from None

    def _send(self, request: httpx.Request) -> httpx.Response:
        breaker = self.breaker_of(request)
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
                        if not last_attempt(breaker, exc):
                            failed = exc.response if isinstance(exc, ErrorResponse) else None
                            raise  # the policy decides
                        final = exc
                if final is not None:
                    raise final
                if failed is not None:  # retried: its connection back to the pool first
                    try:
                        if drainable(failed.headers.get("content-length")):
                            failed.read()
                    except httpx.HTTPError:
                        pass  # the connection is dropped instead of reused
                    finally:
                        failed.close()
        except ErrorResponse as exc:
            return exc.response  # untouched: the caller reads it as if sent once
        raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover

    def _attempt(self, request: httpx.Request) -> httpx.Response:
        return _judge(self._transport.handle_request(request), self)

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
            key=key if key is not None else host_key,
        )
        self._transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    def __repr__(self) -> str:
        return self.describe(type(self).__name__, self._transport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            return await self._send(request)
        except CircuitOpenError as exc:
            raise _rejected(exc, request) from None

    async def _send(self, request: httpx.Request) -> httpx.Response:
        breaker = self.breaker_of(request)
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
                        if not last_attempt(breaker, exc):
                            failed = exc.response if isinstance(exc, ErrorResponse) else None
                            raise  # the policy decides
                        final = exc
                if final is not None:
                    raise final
                if failed is not None:  # retried: its connection back to the pool first
                    try:
                        if drainable(failed.headers.get("content-length")):
                            await failed.aread()
                    except httpx.HTTPError:
                        pass  # the connection is dropped instead of reused
                    finally:
                        await failed.aclose()
        except ErrorResponse as exc:
            return exc.response  # untouched: the caller reads it as if sent once
        raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        return _judge(await self._transport.handle_async_request(request), self)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
