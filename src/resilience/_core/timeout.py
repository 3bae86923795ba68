"""Time limits: on an awaitable, and the Timeout strategy.

:func:`within` tells its own expiry from a ``TimeoutError`` the awaitable raises itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.errors import ResilienceError
from resilience._core.log import logger
from resilience._core.options import Options, Seconds
from resilience._core.options import seconds as as_seconds
from resilience._core.shells import Shell
from resilience._core.text import safe_repr

__all__ = ["CallTimeoutError", "Overran", "Timeout", "within"]

T = TypeVar("T")


class Overran(Exception):  # noqa: N818 - an outcome, not a failure of ours
    """The awaitable was still running when its time limit expired, and was cancelled."""


async def within(seconds: float | None, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` for at most ``seconds`` (None: no limit).

    Raises:
        Overran: The limit expired. A TimeoutError the awaitable raises itself (a socket
            timeout, say) propagates as it is.
    """
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            return await awaitable
    except TimeoutError:
        if limit.expired():
            raise Overran from None
        raise


class CallTimeoutError(ResilienceError, TimeoutError):
    """A call took longer than its ``timeout``."""


class _TimeoutOptions(Options):
    seconds: Seconds = Field(gt=0)


def _named(fn: Callable[..., Any] | None) -> str:
    return safe_repr(getattr(fn, "__qualname__", fn), limit=200)


class Timeout(Shell):
    """A time limit on each attempt of a call (put it innermost in a pipeline).

    A coroutine is cancelled at its limit and :class:`CallTimeoutError` (a
    ``TimeoutError``, so RETRYABLE) raised; a ``TimeoutError`` the call raises itself
    passes as it is. A sync call cannot be interrupted safely: it runs to its end, and if
    it took longer its result is still returned, with a warning in the log (a breaker
    counts it as slow by its own ``slow_call_duration``).

    Args:
        seconds: The limit, in seconds or as a ``timedelta``.
        clock: Measures a sync call's duration.
    """

    __slots__ = ("_clock", "_seconds", "_segment")

    def __init__(self, seconds: float | timedelta, *, clock: Clock | None = None) -> None:
        self._seconds = _TimeoutOptions(seconds=as_seconds(seconds)).seconds
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._segment: Segment | None = None

    @property
    def seconds(self) -> float:
        """The limit, in seconds."""
        return self._seconds

    def __repr__(self) -> str:
        return f"Timeout({self._seconds:g})"

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Nothing to admit: the limit is applied by :meth:`run` / :meth:`arun`."""

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Nothing to decide: the outcome goes on."""

    def for_sync(self) -> _Measured:
        """What stands in for the limit in sync calls: a measure of each attempt."""
        return _Measured(self._seconds, self._clock)

    def run(self, inner: Callable[[], T], fn: Callable[..., Any] | None) -> T:
        """Run ``inner`` to its end; log when it took longer than the limit."""
        now = self._clock.monotonic
        start = now()
        result = inner()
        _report(now() - start, self._seconds, fn)
        return result

    async def arun(self, inner: Callable[[], Awaitable[T]], fn: Callable[..., Any] | None) -> T:
        """Await ``inner``; cancel it at the limit and raise :class:`CallTimeoutError`."""
        try:
            return await within(self._seconds, inner())
        except Overran:
            # Only our own limit: a TimeoutError the call raised itself propagates as it is.
            raise CallTimeoutError(
                f"call to {_named(fn)} did not finish within timeout={self._seconds:g} s and "
                "was cancelled"
            ) from None


class _Measured:
    """A sync call's time limit: each attempt runs to its end, and an overrun is logged."""

    __slots__ = ("_now", "_seconds")

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._seconds = seconds
        self._now = clock.monotonic

    def __repr__(self) -> str:
        return f"Timeout({self._seconds:g})"

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[float, Callable[..., Any] | None]:
        """The attempt's start."""
        return self._now(), fn

    def after(
        self, token: tuple[float, Callable[..., Any] | None], value: object, error: object
    ) -> None:
        """Log the attempt if it returned late; its outcome goes on as it is."""
        if error is None:
            start, fn = token
            _report(self._now() - start, self._seconds, fn)


def _report(took: float, seconds: float, fn: Callable[..., Any] | None) -> None:
    if took > seconds:
        logger.warning(
            "call to %s took %.3g s, longer than timeout=%g s; its result is returned, "
            "as a sync call cannot be interrupted. Set a timeout on the client (socket, "
            "HTTP) to bound the wait itself",
            _named(fn),
            took,
            seconds,
        )
