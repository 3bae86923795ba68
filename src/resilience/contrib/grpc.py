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
from typing import Any

try:
    import grpc  # type: ignore[import-untyped]
    import grpc.aio  # type: ignore[import-untyped]
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError(
        "resilience.contrib.grpc needs grpcio: pip install 'resilience-engine[grpc]'"
    ) from _exc

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience._retry.policy import RetryPolicy
from resilience.contrib._http import DEFAULT_RETRY, last_attempt, with_notes

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


def _method_of(details: grpc.ClientCallDetails) -> str:
    method: str | bytes = details.method
    return method.decode() if isinstance(method, bytes) else method


def _rejected(exc: CircuitOpenError) -> CircuitOpenRpcError:
    if isinstance(exc, CircuitOpenRpcError):
        return exc
    return with_notes(CircuitOpenRpcError(exc.name, exc.state, exc.retry_after, exc.reason), exc)


class _Decisions:
    """The configuration and per-call decisions both interceptors share."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None,
        breakers: BreakerRegistry | None,
        retry_methods: Iterable[str] | None,
        key: Callable[[str], str] | None,
    ) -> None:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
        if breakers is not None and not isinstance(breakers, BreakerRegistry):
            raise TypeError(
                f"breakers must be a BreakerRegistry (one breaker per service) or None, got "
                f"{breakers!r}"
            )
        if isinstance(retry_methods, str):
            raise TypeError(
                f"retry_methods must be a collection of full method names, e.g. "
                f"{{'/pkg.Service/Get'}}, or None for every method; got {retry_methods!r}"
            )
        if key is not None and not callable(key):
            raise TypeError(f"key must be a function of the method returning a name, got {key!r}")
        self._retry = retry
        self._breakers = breakers if breakers is not None else BreakerRegistry()
        self._methods = None if retry_methods is None else frozenset(retry_methods)
        self._key = key if key is not None else service_key

    @property
    def breakers(self) -> BreakerRegistry:
        """The breakers, one per service (per name given by ``key``)."""
        return self._breakers

    def _plan(self, details: grpc.ClientCallDetails) -> tuple[CircuitBreaker, RetryPolicy | None]:
        method = _method_of(details)
        retried = self._methods is None or method in self._methods
        return self._breakers.get(self._key(method)), self._retry if retried else None

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

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        retry_methods: Iterable[str] | None = None,
        key: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(retry=retry, breakers=breakers, retry_methods=retry_methods, key=key)

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: object,
    ) -> object:
        """Send the call through its service's breaker, retrying as the policy allows."""
        breaker, policy = self._plan(client_call_details)

        def once() -> object:
            outcome = continuation(client_call_details, request)
            outcome.result()  # raises the RpcError of a failed call
            return outcome

        try:
            if policy is None:
                return breaker.call(once)
            for attempt in policy.attempts(self.intercept_unary_unary, request):
                last: Exception | None = None
                with attempt:
                    try:
                        return breaker.call(once)
                    except Exception as exc:
                        if not last_attempt(breaker, exc):
                            raise  # the policy decides
                        last = exc
                if last is not None:
                    raise last
        except CircuitOpenError as exc:
            raise _rejected(exc) from None
        raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover


class AsyncResilientInterceptor(_Decisions, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """The ``grpc.aio`` :class:`ResilientInterceptor`: ``interceptors=[...]`` of an aio channel.

    Takes the same arguments.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breakers: BreakerRegistry | None = None,
        retry_methods: Iterable[str] | None = None,
        key: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(retry=retry, breakers=breakers, retry_methods=retry_methods, key=key)

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: object,
    ) -> object:
        """Send the call through its service's breaker, retrying as the policy allows."""
        breaker, policy = self._plan(client_call_details)

        async def once() -> object:
            call = await continuation(client_call_details, request)
            await call  # raises the AioRpcError of a failed call
            return call

        try:
            if policy is None:
                return await breaker.acall(once)
            async for attempt in policy.attempts(self.intercept_unary_unary, request):
                last: Exception | None = None
                with attempt:
                    try:
                        return await breaker.acall(once)
                    except Exception as exc:
                        if not last_attempt(breaker, exc):
                            raise  # the policy decides
                        last = exc
                if last is not None:
                    raise last
        except CircuitOpenError as exc:
            raise _rejected(exc) from None
        raise AssertionError("the attempts end in a return or a raise")  # pragma: no cover
