"""A resilient requests transport adapter: a circuit breaker per host, and safe retries.

``session.mount("https://", ResilientAdapter())`` sends every request of the session
through the breaker of its host and retries what is safe to retry, with the same
decisions as the httpx transports: a 503 or a 429 is retried (waiting as long as its
``Retry-After`` asks) and counts against the host; a 404 is returned at once; when the
retries run out the last response is returned as it came. Only idempotent methods (or a
request with an ``Idempotency-Key``) with a body that can be sent again are retried.
urllib3's own retries stay off (``max_retries=0``): the policy is the one that decides.
Needs the ``requests`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from resilience._core.extras import missing

try:
    import requests
    from requests.adapters import HTTPAdapter
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("requests", "requests") from _exc

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classification, Classifier
from resilience._retry.policy import RetryPolicy
from resilience.contrib._calls import DEFAULT_RETRY, FailedResponse, call, rejection
from resilience.contrib._http import IDEMPOTENT, HoldsDecisions, HTTPDecisions, drainable

__all__ = ["IDEMPOTENT", "CircuitOpenRequestError", "ErrorResponse", "ResilientAdapter", "host_key"]


class CircuitOpenRequestError(CircuitOpenError, requests.ConnectionError):
    """A request rejected by its host's open circuit: nothing was sent.

    Both a :class:`resilience.CircuitOpenError` (``name``, ``state``, ``retry_after``,
    ``reason``) and a ``requests.ConnectionError``, so that the ``except
    requests.RequestException`` requests code already has catches it; ``.request`` is the
    request that was not sent.
    """

    def __init__(
        self,
        name: str,
        state: CircuitState,
        retry_after: float | None,
        reason: str,
        *,
        request: requests.PreparedRequest | None = None,
    ) -> None:
        CircuitOpenError.__init__(self, name, state, retry_after, reason)
        self.request = request
        self.response = None


class ErrorResponse(FailedResponse[requests.Response]):
    """An error response (400 and above) inside the breaker and retries; never raised to you.

    The caller gets the response itself; listeners and ``on_retry`` see this as the
    ``error`` of a failed attempt.
    """

    def __init__(self, response: requests.Response, verdict: Classification) -> None:
        super().__init__(response, verdict, f"HTTP {response.status_code} {response.reason}")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_key(request: requests.PreparedRequest) -> str:
    """The default breaker name of a request: its host, with the port unless the scheme's own.

    The same names as the httpx transports give: ``"api.example.com"``, ``"[::1]:8080"``.
    """
    parts = urlsplit(request.url or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return host
    return f"{host}:{port}"


def _replayable(request: requests.PreparedRequest) -> bool:
    """Whether the body can be sent again: none, bytes or text (not a file or generator)."""
    return request.body is None or isinstance(request.body, bytes | str)


class ResilientAdapter(HoldsDecisions[requests.PreparedRequest], HTTPAdapter):
    """A requests adapter sending each request through its host's breaker, with retries.

    Mount it on a session: ``session.mount("https://", ResilientAdapter(...))``.

    Args:
        retry: The retry policy of retryable requests; None never retries.
        breakers: One breaker per host; a new :class:`BreakerRegistry` by default.
        classifier: Judges responses (``classify_status``) and, for the retries,
            exceptions; the retry policy's classifier by default.
        retry_methods: The methods retried; a request of another method is retried
            only with an ``Idempotency-Key`` header.
        key: The breaker name of a request; :func:`host_key` by default.
        pool_connections: As for ``HTTPAdapter``; there is no ``max_retries``: the retry
            policy retries, and urllib3's retries stay off.
        pool_maxsize: As for ``HTTPAdapter``.
        pool_block: As for ``HTTPAdapter``.

    Raises:
        CircuitOpenRequestError: From ``session.get()`` and the rest, when the host's
            circuit is open; no request is sent.
    """

    _SENDS_WITH = "urllib3"

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        classifier: Classifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT,
        key: Callable[[requests.PreparedRequest], str] | None = None,
        pool_connections: int = 10,
        pool_maxsize: int = 10,
        pool_block: bool = False,
    ) -> None:
        # urllib3's retries stay off: an attempt is counted once, by the breaker.
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=0,
            pool_block=pool_block,
        )
        self._decisions = HTTPDecisions(
            retry, breakers, classifier, retry_methods, key if key is not None else host_key
        )

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request`` through its host's breaker, retrying as the policy allows."""
        options: dict[str, Any] = {
            "stream": stream,
            "timeout": timeout,
            "verify": verify,
            "cert": cert,
            "proxies": proxies,
        }
        try:
            breaker, attempts = self._decisions.plan(
                self.send, request, method=request.method or "GET", replayable=_replayable(request)
            )
            return call(breaker, attempts, self._attempt, request, options, release=_release)
        except CircuitOpenError as exc:
            raise rejection(exc, CircuitOpenRequestError, request=request) from None

    def _attempt(
        self, request: requests.PreparedRequest, options: dict[str, Any]
    ) -> requests.Response:
        response = super().send(request, **options)
        status = response.status_code
        if status < 400:  # noqa: PLR2004
            return response
        raise ErrorResponse(response, self._decisions.classify_status(status, response.headers))


def _release(response: requests.Response) -> None:
    """Give a retried response's connection back to the pool (its small body read first)."""
    try:
        if drainable(response.headers.get("content-length")):
            _ = response.content
    except requests.RequestException:
        pass  # the connection is dropped instead of reused
    finally:
        response.close()
