"""resilient(): fallback ∘ retry ∘ breaker ∘ timeout ∘ call, as one decorator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, ParamSpec, TypeVar, cast, overload

from pydantic import Field
from typing_extensions import deprecated

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.errors import ResilienceError
from resilience._core.log import logger
from resilience._core.options import Options
from resilience._core.shells import (
    AWAITABLES,
    MARK,
    BreakerHold,
    MisusedCallError,
    generators,
    is_async,
    is_generator,
    misused,
    require_callable,
    shells,
)
from resilience._core.text import safe_repr
from resilience._core.timeout import Overran, within
from resilience._retry.policy import RetryPolicy, _Run

__all__ = ["CallTimeoutError", "Resilient", "resilient"]

P = ParamSpec("P")
R = TypeVar("R")


class CallTimeoutError(ResilienceError, TimeoutError):
    """A call took longer than its ``timeout``."""


class _ComposeConfig(Options):
    timeout: float | None = Field(default=None, gt=0)


class Resilient:
    """A composed policy: use it as a decorator, or through :meth:`call` / :meth:`acall`.

    Built by :func:`resilient`; see there.
    """

    __slots__ = (
        "_breaker",
        "_clock",
        "_fallback",
        "_name",
        "_pick",
        "_registry",
        "_retry",
        "_timeout",
    )

    def __init__(
        self,
        *,
        retry: RetryPolicy | None,
        breaker: CircuitBreaker | None,
        registry: BreakerRegistry | None,
        remote: str | Callable[..., str] | None,
        timeout: float | None,
        fallback: Callable[..., Any] | None,
        clock: Clock,
    ) -> None:
        self._retry = retry
        self._breaker = breaker
        self._registry = registry
        # A registry's remote: a fixed name, or a function of the call's arguments.
        self._name = remote if isinstance(remote, str) else None
        self._pick = None if isinstance(remote, str) else remote
        self._timeout = timeout
        self._fallback = fallback
        self._clock = clock

    def __repr__(self) -> str:
        parts = [
            f"{name}={value!r}"
            for name, value in (
                ("retry", self._retry),
                ("breaker", self._breaker or self._registry),
                ("timeout", self._timeout),
                ("fallback", self._fallback),
            )
            if value is not None
        ]
        return f"resilient({', '.join(parts)})"

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn`` (sync or async; a generator function stays one, see docs)."""
        require_callable(fn, "@resilient(...)")
        retry = self._retry
        if is_generator(fn):
            return self._generators(fn)
        if (
            self._timeout is not None
            or (self._breaker is None and self._registry is None)
            or (retry is not None and not retry._plain)
        ):
            wrapped = shells(fn, self.call, self.acall)
        elif is_async(fn):
            wrapped = cast("Callable[P, R]", self._afused(fn))
        else:
            wrapped = self._fused(fn)
        if self._breaker is not None:
            # Through its breaker's own call() it runs as it is: one permit, one outcome.
            setattr(wrapped, MARK, self._breaker)
        return wrapped

    def _generators(self, fn: Callable[P, R]) -> Callable[P, R]:
        """``fn``, a generator function: the layers hold over its iteration (see generators)."""
        if self._timeout is not None:
            raise TypeError(
                f"resilient(timeout={self._timeout:g}) cannot bound the iteration of "
                f"generator function {safe_repr(getattr(fn, '__qualname__', fn))}: set "
                "the timeout on the client it reads from, or leave timeout= out"
            )
        hold = None
        if self._breaker is not None or self._registry is not None:
            hold = BreakerHold(cast("Callable[..., CircuitBreaker]", self._breaker_for))
        wrapped = generators(fn, hold=hold, retry=self._retry, fallback=self._fallback)
        if self._breaker is not None:
            setattr(wrapped, MARK, self._breaker)
        return wrapped

    # The fused wrappers run the first attempt through the breaker's fast path inline:
    # a success costs one wrapper frame, as a bare breaker does. Anything else (a
    # failure, a breaker that is not CLOSED) takes the layered path, which behaves the
    # same, only slower. A timeout, or a retry with a budget or deadline to start, needs
    # the layered path for every call, so __call__ never fuses those.

    def _fused(self, fn: Callable[P, R]) -> Callable[P, R]:
        fixed = cast("CircuitBreaker", self._breaker)  # None when a registry picks
        get = self._registry.get if self._registry is not None else None
        pick = cast("Callable[..., str]", self._pick)
        name = self._name
        call = self.call
        recover = self._recover

        @functools.wraps(fn)
        def fused(*args: P.args, **kwargs: P.kwargs) -> R:
            breaker = fixed if get is None else get(name or pick(*args, **kwargs))
            gen = breaker.fast_epoch
            if gen is None:
                return call(fn, *args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                breaker._record_error(gen, 0.0, exc)
                return recover(exc, fn, args, kwargs)
            except BaseException as exc:
                breaker._record_error(gen, 0.0, exc)
                raise
            if gen == breaker.epoch:  # a stale success must not reset a later count
                breaker.streak = 0
            return result

        return fused

    def _afused(self, fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
        afn = cast("Callable[P, Awaitable[R]]", fn)
        fixed = cast("CircuitBreaker", self._breaker)  # None when a registry picks
        get = self._registry.get if self._registry is not None else None
        pick = cast("Callable[..., str]", self._pick)
        name = self._name
        acall = self.acall
        arecover = self._arecover

        @functools.wraps(fn)
        async def afused(*args: P.args, **kwargs: P.kwargs) -> R:
            breaker = fixed if get is None else get(name or pick(*args, **kwargs))
            gen = breaker.fast_epoch
            if gen is None:
                return await acall(afn, *args, **kwargs)
            try:
                result = await afn(*args, **kwargs)
            except Exception as exc:
                breaker._record_error(gen, 0.0, exc)
                return await arecover(exc, afn, args, kwargs)
            except BaseException as exc:
                breaker._record_error(gen, 0.0, exc)
                raise
            if gen == breaker.epoch:  # a stale success must not reset a later count
                breaker.streak = 0
            return result

        return afused

    def _recover(
        self, exc: Exception, fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        """After a failed plain first attempt: the retries, then the fallback."""
        retry = self._retry
        run = _Run(retry, None, fn, args, kwargs) if retry is not None else None
        delay = run.next_delay(exc) if run is not None else None
        final: Exception = exc
        if run is not None and delay is not None:
            try:
                result: R = cast("RetryPolicy", retry)._retry(
                    run, delay, self._once, (fn, args, kwargs), {}
                )
            except Exception as err:
                final = err
            else:
                return result
        if self._fallback is None or isinstance(final, MisusedCallError):
            raise final
        return cast("R", self._fallback(final, *args, **kwargs))

    async def _arecover(
        self,
        exc: Exception,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> R:
        retry = self._retry
        run = _Run(retry, None, fn, args, kwargs) if retry is not None else None
        delay = run.next_delay(exc) if run is not None else None
        final: Exception = exc
        if run is not None and delay is not None:
            try:
                return await cast("RetryPolicy", retry)._aretry(
                    run, delay, self._aonce, (fn, args, kwargs), {}
                )
            except Exception as err:
                final = err
        if self._fallback is None or isinstance(final, MisusedCallError):
            raise final
        result = self._fallback(final, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return cast("R", result)

    @overload
    @deprecated("an async function passed to call() is never awaited: use acall()")
    def call(
        self, fn: Callable[P, Awaitable[object]], /, *args: P.args, **kwargs: P.kwargs
    ) -> NoReturn: ...
    @overload
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` through every layer.

        Raises:
            TypeError: ``fn`` returned an awaitable (a coroutine, a future): use
                :meth:`acall`. It is not retried, and not given to the fallback.
        """
        try:
            retry = self._retry
            if retry is None:
                result = self._once(fn, args, kwargs)
            else:
                result = retry._call_as(self._once, (fn, args, kwargs), fn, args, kwargs)
        except Exception as exc:
            if self._fallback is None or isinstance(exc, MisusedCallError):
                raise
            return cast("R", self._fallback(exc, *args, **kwargs))
        if type(result) in AWAITABLES:
            raise misused("Resilient", fn, result)
        return result

    async def acall(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``fn(*args, **kwargs)`` through every layer."""
        try:
            retry = self._retry
            if retry is None:
                return await self._aonce(fn, args, kwargs)
            return await retry._acall_as(self._aonce, (fn, args, kwargs), fn, args, kwargs)
        except Exception as exc:
            if self._fallback is None:
                raise
            result = self._fallback(exc, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return cast("R", result)

    def _breaker_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CircuitBreaker | None:
        if self._registry is not None:
            pick = cast("Callable[..., str]", self._pick)
            return self._registry.get(self._name or pick(*args, **kwargs))
        return self._breaker

    def _once(self, fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        breaker = self._breaker_for(args, kwargs)
        if self._timeout is not None:
            if breaker is None:
                return self._timed(fn, args, kwargs)
            return breaker.call(self._timed, fn, args, kwargs)
        if breaker is None:
            return fn(*args, **kwargs)
        return breaker.call(fn, *args, **kwargs)

    async def _aonce(
        self, fn: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        breaker = self._breaker_for(args, kwargs)
        if self._timeout is not None:
            if breaker is None:
                return await self._atimed(fn, args, kwargs)
            return await breaker.acall(self._atimed, fn, args, kwargs)
        if breaker is None:
            return await fn(*args, **kwargs)
        return await breaker.acall(fn, *args, **kwargs)

    def _timed(self, fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        # Python cannot stop a running sync call safely, and a result that came late is
        # still the answer the caller asked for: it is returned, never discarded and
        # retried. The overrun is logged; a breaker counts it as slow by its own
        # slow_call_duration.
        now = self._clock.monotonic
        start = now()
        result = fn(*args, **kwargs)
        took = now() - start
        if took > cast("float", self._timeout):
            logger.warning(
                "call to %s took %.3g s, longer than timeout=%g s; its result is returned, "
                "as a sync call cannot be interrupted. Set a timeout on the client (socket, "
                "HTTP) to bound the wait itself",
                safe_repr(getattr(fn, "__qualname__", fn), limit=200),
                took,
                self._timeout,
            )
        return result

    async def _atimed(
        self, fn: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        try:
            return await within(self._timeout, fn(*args, **kwargs))
        except Overran:
            # Only our own limit: a TimeoutError the call raised itself propagates as it is.
            raise CallTimeoutError(
                f"call to {safe_repr(getattr(fn, '__qualname__', fn), limit=200)} did not "
                f"finish within timeout={self._timeout:g} s and was cancelled"
            ) from None


def resilient(
    remote: str | Callable[..., str] | None = None,
    *,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreaker | BreakerRegistry | None = None,
    timeout: float | None = None,
    fallback: Callable[..., Any] | None = None,
    classifier: Classifier | None = None,
    clock: Clock | None = None,
) -> Resilient:
    """Compose the layers around a call: fallback(retry(breaker(timeout(call)))).

    Args:
        remote: With a :class:`BreakerRegistry`, which remote a call goes to: a name,
            or a function of the call's arguments returning one.
        retry: Retries failed attempts; each attempt passes through the breaker. An
            open circuit's rejection goes to the fallback at once, unless the policy's
            ``wait_for_open_circuit`` allows waiting for its trial call.
        breaker: A :class:`CircuitBreaker`, or a :class:`BreakerRegistry` with ``remote``.
        timeout: Seconds per attempt. A coroutine still running at the timeout is
            cancelled and :class:`CallTimeoutError` (a ``TimeoutError``, so RETRYABLE)
            raised; a ``TimeoutError`` the call raises itself passes through as it is.
            A sync call cannot be interrupted: it runs to the end, and a late result
            is returned (never discarded and retried), the overrun logged as a warning.
        fallback: ``fallback(exc, *args, **kwargs)`` gives the result when the final
            attempt failed with an ``Exception``; may be async for async calls.
        classifier: Overrides the retry policy's classifier when the policy has none of
            its own. (A breaker keeps the classifier it was built with.)
        clock: Time source for the sync timeout.
    """
    config = _ComposeConfig(timeout=timeout)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"resilient(retry=...) must be a RetryPolicy, got {retry!r}")
    if fallback is not None and not callable(fallback):
        raise TypeError(f"resilient(fallback=...) must be callable, got {fallback!r}")
    if classifier is not None and retry is not None and retry._kwargs["classifier"] is None:
        retry = retry.replace(classifier=classifier)
    registry: BreakerRegistry | None = None
    fixed: CircuitBreaker | None = None
    if isinstance(breaker, BreakerRegistry):
        if remote is None:
            raise TypeError(
                "resilient(breaker=<BreakerRegistry>) needs remote=: a remote name, or a "
                "function of the call's arguments that returns one"
            )
        if not remote or not (isinstance(remote, str) or callable(remote)):
            raise TypeError(
                "resilient(remote=...) must be a non-empty remote name or a function of "
                f"the call's arguments returning one; got {remote!r}"
            )
        registry = breaker
    elif isinstance(breaker, CircuitBreaker):
        if remote is not None:
            raise TypeError(
                "resilient(remote=...) picks a breaker from a BreakerRegistry; with a "
                "single CircuitBreaker, leave remote out"
            )
        fixed = breaker
    elif breaker is not None:
        raise TypeError(
            f"resilient(breaker=...) must be a CircuitBreaker or a BreakerRegistry, got {breaker!r}"
        )
    return Resilient(
        retry=retry,
        breaker=fixed,
        registry=registry,
        remote=remote,
        timeout=config.timeout,
        fallback=fallback,
        clock=clock if clock is not None else SYSTEM_CLOCK,
    )
