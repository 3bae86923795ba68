"""What the decorators share: the argument check, and thin shells around call/acall."""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from collections.abc import Awaitable, Callable
from typing import Any, Final, ParamSpec, TypeVar, cast

from resilience._text import safe_repr

__all__ = [
    "AWAITABLES",
    "MARK",
    "MisusedCallError",
    "is_async",
    "misused",
    "require_callable",
    "shells",
]

P = ParamSpec("P")
R = TypeVar("R")


AWAITABLES: Final[frozenset[type]] = frozenset({types.CoroutineType, asyncio.Future, asyncio.Task})
"""What a sync ``call()`` refuses as a result: one set lookup of the result's type."""

MARK: Final = "__resilience_breaker__"
"""The attribute naming the breaker a wrapper already goes through (see CircuitBreaker.call)."""


class MisusedCallError(TypeError):
    """A sync ``call()`` got an async function: a bug in the caller, not a failed call.

    Never retried and never handed to a fallback.
    """


def misused(owner: str, fn: object, result: object) -> MisusedCallError:
    """The error for a sync ``call()`` whose ``fn`` returned an awaitable; closes a coroutine.

    The coroutine never ran: closing it keeps Python from warning that it was never
    awaited, long after the call, where nothing says which call it was.
    """
    if isinstance(result, types.CoroutineType):
        result.close()
    return MisusedCallError(
        f"{owner}.call() got {safe_repr(fn, limit=200)}, which returned "
        f"{type(result).__name__} (an awaitable), not a result: nothing was awaited and "
        f"nothing recorded. Use `await {owner}.acall(fn, ...)` for async functions"
    )


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
