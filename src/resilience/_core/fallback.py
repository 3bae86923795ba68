"""Fallback: what a call gives when its last attempt failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.misuse import MisusedCallError
from resilience._core.shells import Shell
from resilience._core.strategy import Replace

__all__ = ["Fallback"]


class Fallback(Shell):
    """Gives ``fallback(exc, *args, **kwargs)`` when the call failed (put it outermost).

    It takes over from an ``Exception`` only (never a cancellation, nor an async function
    given to a sync ``call()``), after every retry inside it; an async call's fallback
    may be async too. On a generator function the fallback gives an iterable whose items
    stand in, when the generator failed before its first item.

    Args:
        fallback: Called with the final exception and the call's arguments.
    """

    __slots__ = ("_clock", "_fallback", "_segment")

    passive = True

    def __init__(self, fallback: Callable[..., Any]) -> None:
        if not callable(fallback):
            raise TypeError(f"Fallback takes a function, got {fallback!r}")
        self._fallback = fallback
        self._clock: Clock = SYSTEM_CLOCK
        self._segment: Segment | None = None

    def __repr__(self) -> str:
        return f"Fallback({self._fallback!r})"

    def before(
        self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Keep the call's arguments for the fallback."""
        return args, kwargs

    def after(
        self,
        token: tuple[tuple[Any, ...], dict[str, Any]],
        value: object,
        error: BaseException | None,
    ) -> Replace | None:
        """Replace a failure by the fallback's result."""
        if not isinstance(error, Exception) or isinstance(error, MisusedCallError):
            return None
        args, kwargs = token
        return Replace(self._fallback(error, *args, **kwargs))
