"""What the decorators share: the argument check, and thin shells around call/acall."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

__all__ = ["is_async", "require_callable", "shells"]

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


def shells(
    fn: Callable[P, R],
    call: Callable[..., Any],
    acall: Callable[..., Awaitable[Any]],
) -> Callable[P, R]:
    """``fn`` run as ``call(fn, *args, **kwargs)``, or ``await acall(...)`` if a coroutine."""
    if is_async(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
            return await acall(fn, *args, **kwargs)

        return cast("Callable[P, R]", async_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return cast("R", call(fn, *args, **kwargs))

    return wrapper
