"""The forms every strategy and pipeline offers, as thin shells over the drivers.

A decorator (sync, async, generator functions), ``call()`` / ``acall()`` and ``with`` /
``async with``: each is a line or two over :mod:`resilience._core.drive` and
:mod:`resilience._core.shapes`, the same for a lone strategy and for a pipeline.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar, cast, overload

from typing_extensions import deprecated

from resilience._core import blocks, drive
from resilience._core.shapes import decorate

if TYPE_CHECKING:
    from resilience._core.clock import Clock
    from resilience._core.strategy import Strategy

__all__ = ["Shell", "is_async", "require_callable"]

P = ParamSpec("P")
R = TypeVar("R")


def is_async(fn: object) -> bool:
    """Whether ``fn`` is a coroutine function (without narrowing its type, as inspect does)."""
    return inspect.iscoroutinefunction(fn)


def require_callable(fn: object, decorator: str) -> None:
    """Raise TypeError, saying what was passed, unless ``fn`` can be decorated."""
    if not callable(fn):
        raise TypeError(
            f"{decorator} decorates a function or method; got {fn!r} of type "
            f"{type(fn).__name__}"
        )


class Shell:
    """Decorator, ``call()`` / ``acall()`` and ``with`` forms over one segment of strategies.

    A strategy that is its own one-strategy pipeline has a ``_segment`` slot set to None
    (built on first use) and a ``_clock``; a pipeline overrides :meth:`_shell`.
    """

    __slots__ = ()
    _segment: drive.Segment | None
    _clock: Clock

    def _shell(self) -> drive.Segment:
        segment = self._segment
        if segment is None:
            segment = drive.Segment((cast("Strategy", self),), self._shell_clock())
            self._segment = segment  # type: ignore[misc] # a slot of the subclass
        return segment

    def _shell_clock(self) -> Clock:
        return self._clock

    def _shell_label(self) -> str:
        """What decorates, in messages: ``CircuitBreaker('db')``, ``RetryPolicy(...)``."""
        return f"{type(self).__name__}(...)"

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: sync, async, or a generator function of either.

        On a generator function the strategies that hold a call (a breaker's permit)
        hold it over the whole iteration, and learn its outcome when it ends; a retry or
        a fallback applies only until the first item.
        """
        require_callable(fn, f"@{self._shell_label()}")
        return cast("Callable[P, R]", decorate(self._shell(), fn))

    @overload
    @deprecated("an async function passed to call() is never awaited: use acall()")
    def call(
        self, fn: Callable[P, Awaitable[object]], /, *args: P.args, **kwargs: P.kwargs
    ) -> NoReturn: ...
    @overload
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` through the strategies; its result.

        Raises:
            TypeError: ``fn`` returned an awaitable (a coroutine, a future): use
                :meth:`acall`. Nothing is recorded, retried or replaced.
        """
        segment = self._segment
        if segment is None:
            segment = self._shell()
        return drive.call(segment, fn, args, kwargs, self)  # type: ignore[no-any-return]

    async def acall(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``fn(*args, **kwargs)`` through the strategies; its result."""
        segment = self._segment
        if segment is None:
            segment = self._shell()
        return await drive.acall(segment, fn, args, kwargs)  # type: ignore[no-any-return]

    def __enter__(self) -> None:
        for strategy in self._held():
            try:
                blocks.enter_block(strategy)
            except BaseException as exc:
                self._leave_until(strategy, exc)
                raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for strategy in reversed(self._held()):
            blocks.exit_block(strategy, exc)

    async def __aenter__(self) -> None:
        # As __enter__, but a strategy that may wait to admit (abefore) is awaited.
        for strategy in self._held():
            try:
                await blocks.aenter_block(strategy)
            except BaseException as exc:
                self._leave_until(strategy, exc)
                raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _held(self) -> tuple[Strategy, ...]:
        """The strategies a ``with`` block enters: those that take a settled outcome."""
        segment = self._shell()
        if segment.wrap is not None:
            raise TypeError(
                f"{type(self).__name__} cannot guard a with block: {segment.wrap!r} runs a "
                "call (a time limit, hedging), and a block is not one; decorate a function"
            )
        return tuple(s for s in segment.strategies if hasattr(s, "settle"))

    def _leave_until(self, refused: Strategy, error: BaseException) -> None:
        """Settle the blocks entered before ``refused`` refused, innermost first."""
        entered = self._held()
        for strategy in reversed(entered[: entered.index(refused)]):
            blocks.exit_block(strategy, error)
