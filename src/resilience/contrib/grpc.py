"""gRPC client interceptors: a circuit breaker per service, and retries judged by status code.

::

    interceptor = ResilientInterceptor(retry=RetryPolicy(attempts=3))
    channel = grpc.intercept_channel(grpc.insecure_channel(target), interceptor)

    aio_channel = grpc.aio.insecure_channel(target, interceptors=[AsyncResilientInterceptor()])

Each unary-unary call goes through the breaker of its service (``"pkg.Service"``, from
the method ``"/pkg.Service/Method"``) and is retried when the classifier's gRPC table says
its status is worth another attempt: ``UNAVAILABLE``, ``RESOURCE_EXHAUSTED``, ``ABORTED``
and ``DEADLINE_EXCEEDED`` are; ``INVALID_ARGUMENT``, ``NOT_FOUND``, ``PERMISSION_DENIED``
and the rest are returned at once and, being the caller's mistakes, do not count against
the service. Every method is retried unless ``retry_methods`` names the ones that are
safe to send again. A call refused by an open circuit raises :class:`CircuitOpenRpcError`,
an ``RpcError`` with the status ``UNAVAILABLE``. Streaming calls pass through untouched.
Needs the ``grpc`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from resilience._core.extras import missing

try:
    import grpc  # type: ignore[import-untyped]
    import grpc.aio  # type: ignore[import-untyped]
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("grpc", "grpcio") from _exc

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._retry.attempts import Attempts
from resilience._retry.policy import RetryPolicy
from resilience.contrib._calls import DEFAULT_RETRY, acall, call, checked_registry, rejection

__all__ = [
    "AsyncResilientInterceptor",
    "CircuitOpenRpcError",
    "ResilientInterceptor",
    "service_key",
]


class CircuitOpenRpcError(CircuitOpenError, grpc.RpcError):  # type: ignore[misc]
    """A call rejected by its service's open circuit: nothing was sent.

    Both a :class:`resilience.CircuitOpenError` (``name``, ``state``, ``retry_after``,
    ``reason``) and a ``grpc.RpcError`` whose ``code()`` is ``UNAVAILABLE``, so that
    the ``except grpc.RpcError`` gRPC code already has catches it.
    """

    def __init__(
        self, name: str, state: CircuitState, retry_after: float | None, reason: str
    ) -> None:
        CircuitOpenError.__init__(self, name, state, retry_after, reason)

    def code(self) -> grpc.StatusCode:
        """``UNAVAILABLE``: the service is not asked while its circuit is open."""
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        """The rejection's message."""
        return str(self)


def service_key(method: str) -> str:
    """The default breaker name of a call: its service, ``"pkg.Svc"`` of ``"/pkg.Svc/Get"``."""
    return method.lstrip("/").partition("/")[0] or method


_Details: TypeAlias = grpc.ClientCallDetails
_Continuation: TypeAlias = Callable[[_Details, Any], Any]


def _method_of(details: _Details) -> str:
    method: str | bytes = details.method
    return method.decode() if isinstance(method, bytes) else method


def _once(continuation: _Continuation, details: _Details, request: object) -> object:
    outcome = continuation(details, request)
    outcome.result()  # raises the RpcError of a failed call
    return outcome


async def _aonce(continuation: _Continuation, details: _Details, request: object) -> object:
    rpc = await continuation(details, request)
    await rpc  # raises the AioRpcError of a failed call
    return rpc


class _Decisions:
    """The configuration and per-call decisions both interceptors share."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        retry_methods: Iterable[str] | None = None,
        key: Callable[[str], str] | None = None,
    ) -> None:
        registry = checked_registry(retry, breakers, per="service")
        if isinstance(retry_methods, str):
            raise TypeError(
                f"retry_methods must be a collection of full method names, e.g. "
                f"{{'/pkg.Service/Get'}}, or None for every method; got {retry_methods!r}"
            )
        if key is not None and not callable(key):
            raise TypeError(f"key must be a function of the method returning a name, got {key!r}")
        self._retry = retry
        self._breakers = registry
        self._methods = None if retry_methods is None else frozenset(retry_methods)
        self._key = key if key is not None else service_key

    @property
    def breakers(self) -> BreakerRegistry:
        """The breakers, one per service (per name given by ``key``)."""
        return self._breakers

    def _plan(
        self, details: _Details, entry: Callable[..., object], request: object
    ) -> tuple[CircuitBreaker, Attempts | None]:
        """The breaker of a call, and its attempts (None: sent once) named after ``entry``."""
        method = _method_of(details)
        breaker = self._breakers.get(self._key(method))
        retry = self._retry
        if retry is None or (self._methods is not None and method not in self._methods):
            return breaker, None
        # The retry state names the request, the call's argument.
        return breaker, retry.attempts(entry, request)

    def __repr__(self) -> str:
        methods = "all" if self._methods is None else sorted(self._methods)
        return (
            f"{type(self).__name__}(retry={self._retry!r}, breakers={self._breakers!r}, "
            f"retry_methods={methods!r})"
        )


class ResilientInterceptor(_Decisions, grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """A sync gRPC client interceptor: breaker per service, retries by status code.

    Use it as ``grpc.intercept_channel(channel, ResilientInterceptor(...))``.

    Args:
        retry: The retry policy; None never retries. Each attempt gets the call's own
            deadline (``timeout=``) afresh.
        breakers: One breaker per service; a new :class:`BreakerRegistry` by default.
            Its classifier decides what counts (the gRPC table by default).
        retry_methods: The full names of the methods safe to retry (``"/pkg.Svc/Get"``);
            None retries every method.
        key: The breaker name of a method; :func:`service_key` by default.
    """

    def intercept_unary_unary(
        self, continuation: _Continuation, client_call_details: _Details, request: object
    ) -> object:
        """Send the call through its service's breaker, retrying as the policy allows."""
        breaker, attempts = self._plan(client_call_details, self.intercept_unary_unary, request)
        try:
            return call(breaker, attempts, _once, continuation, client_call_details, request)
        except CircuitOpenError as exc:
            raise rejection(exc, CircuitOpenRpcError) from None


class AsyncResilientInterceptor(_Decisions, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """The ``grpc.aio`` :class:`ResilientInterceptor`: ``interceptors=[...]`` of an aio channel.

    Takes the same arguments.
    """

    async def intercept_unary_unary(
        self, continuation: _Continuation, client_call_details: _Details, request: object
    ) -> object:
        """Send the call through its service's breaker, retrying as the policy allows."""
        breaker, attempts = self._plan(client_call_details, self.intercept_unary_unary, request)
        try:
            return await acall(
                breaker, attempts, _aonce, continuation, client_call_details, request
            )
        except CircuitOpenError as exc:
            raise rejection(exc, CircuitOpenRpcError) from None
