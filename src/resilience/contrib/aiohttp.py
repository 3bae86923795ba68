"""A resilient aiohttp client middleware: a circuit breaker per host, and safe retries.

``aiohttp.ClientSession(middlewares=[ResilientMiddleware()])`` sends every request of
the session through the breaker of its host and retries what is safe to retry, with the
same decisions as the httpx transports and the requests adapter: a 503 or a 429 is
retried (waiting as long as its ``Retry-After`` asks) and counts against the host; a 404
is returned at once; when the retries run out the last response is returned as it came.
Only idempotent methods (or a request with an ``Idempotency-Key``) whose body can be sent
again (bytes, text, form fields, JSON) are retried. Needs the ``aiohttp`` extra
(aiohttp 3.12 or later: client middlewares).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from resilience._core.extras import missing

try:
    import aiohttp
    from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
    from aiohttp.payload import BytesPayload
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("aiohttp", "aiohttp 3.12 or later") from _exc

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier
from resilience._retry.policy import RetryPolicy
from resilience.contrib._calls import DEFAULT_RETRY, FailedResponse, acall, rejection
from resilience.contrib._http import IDEMPOTENT, HoldsDecisions, HTTPDecisions, drainable

__all__ = [
    "IDEMPOTENT",
    "CircuitOpenClientError",
    "ErrorResponse",
    "ResilientMiddleware",
    "host_key",
]


class CircuitOpenClientError(CircuitOpenError, aiohttp.ClientConnectionError):
    """A request rejected by its host's open circuit: nothing was sent.

    Both a :class:`resilience.CircuitOpenError` (``name``, ``state``, ``retry_after``,
    ``reason``) and an ``aiohttp.ClientConnectionError``, so that the ``except
    aiohttp.ClientError`` aiohttp code already has catches it.
    """

    def __init__(
        self, name: str, state: CircuitState, retry_after: float | None, reason: str
    ) -> None:
        CircuitOpenError.__init__(self, name, state, retry_after, reason)


class ErrorResponse(FailedResponse[ClientResponse]):
    """An error response (400 and above) inside the breaker and retries; never raised to you.

    The caller gets the response itself; listeners and ``on_retry`` see this as the
    ``error`` of a failed attempt.
    """

    def __init__(self, response: ClientResponse, verdict: Classification) -> None:
        super().__init__(response, verdict, f"HTTP {response.status} {response.reason}")


def host_key(request: ClientRequest) -> str:
    """The default breaker name of a request: its host, with the port unless the scheme's own.

    The same names as the httpx transports give: ``"api.example.com"``, ``"[::1]:8080"``.
    """
    url = request.url
    host = (url.host or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return host if url.is_default_port() else f"{host}:{url.port}"


def _replayable(request: ClientRequest) -> bool:
    """Whether the body can be sent again: none, bytes, text, form fields or JSON."""
    body = request.body
    return body == b"" or isinstance(body, BytesPayload)


async def _release(response: ClientResponse) -> None:
    """Give a retried response's connection back to the pool (its small body read first)."""
    try:
        if drainable(response.headers.get("content-length")):
            await response.read()
            response.release()
            return
    except aiohttp.ClientError:
        pass  # the connection is dropped instead of reused
    response.close()


class ResilientMiddleware(HoldsDecisions[ClientRequest]):
    """An aiohttp client middleware sending each request through its host's breaker.

    Use it as ``aiohttp.ClientSession(middlewares=[ResilientMiddleware(...)])``.

    Args:
        retry: The retry policy of retryable requests; None never retries.
        breakers: One breaker per host; a new :class:`BreakerRegistry` by default.
        classifier: Judges responses (``classify_status``) and, for the retries,
            exceptions; the retry policy's classifier by default.
        retry_methods: The methods retried; a request of another method is retried
            only with an ``Idempotency-Key`` header.
        key: The breaker name of a request; :func:`host_key` by default.

    Raises:
        CircuitOpenClientError: From the session's requests, when the host's circuit is
            open; no request is sent.
    """

    _SENDS_WITH = "aiohttp"

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        classifier: Classifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT,
        key: Callable[[ClientRequest], str] | None = None,
    ) -> None:
        self._decisions = HTTPDecisions(
            retry, breakers, classifier, retry_methods, key if key is not None else host_key
        )

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        try:
            breaker, attempts = self._decisions.plan(
                self.__call__, request, method=request.method, replayable=_replayable(request)
            )
            return await acall(breaker, attempts, self._attempt, request, handler, release=_release)
        except CircuitOpenError as exc:
            raise rejection(exc, CircuitOpenClientError) from None

    async def _attempt(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        response = await handler(request)
        status = response.status
        if status < 400:  # noqa: PLR2004
            return response
        raise ErrorResponse(response, self._decisions.classify_status(status, response.headers))
