"""What the decorators share: the argument check, and thin shells around call/acall."""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, cast

from resilience._core.errors import ResilienceError
from resilience._core.events import Outcome
from resilience._core.text import safe_repr

if TYPE_CHECKING:
    from resilience._breaker.breaker import CircuitBreaker
    from resilience._retry.policy import RetryPolicy

__all__ = [
    "AWAITABLES",
    "MARK",
    "BreakerHold",
    "MisusedCallError",
    "generators",
    "is_async",
    "is_generator",
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


class MisusedCallError(ResilienceError, TypeError):
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


def is_generator(fn: object) -> bool:
    """Whether ``fn`` is a sync or an async generator function."""
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)


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


# ------------------------------------------------------------------ generator functions
#
# A generator's call is its whole iteration: a breaker's permit is taken at the first
# next() and its outcome recorded when the iteration ends (exhausted or closed: a
# success; an exception: classified as any failure). A retry can re-run a generator only
# before it yielded its first item: the caller may have acted on an item already.

_SUCCESS: Final = Outcome.SUCCESS

Args = tuple[Any, ...]
Kwargs = dict[str, Any]


class BreakerHold:
    """A breaker's permit held over a generator's iteration: admit, then record once."""

    __slots__ = ("_pick",)

    def __init__(self, pick: Callable[[Args, Kwargs], CircuitBreaker]) -> None:
        self._pick = pick  # the breaker of a call, by its arguments (a registry's remote)

    def enter(self, args: Args, kwargs: Kwargs) -> tuple[CircuitBreaker, int, float] | None:
        """Admit the iteration (or raise CircuitOpenError); what :meth:`leave` needs."""
        breaker = self._pick(args, kwargs)
        if breaker._inside():
            return None  # the enclosing `with breaker:` holds the permit and records
        token = breaker._admit()
        return breaker, token, breaker._clock.monotonic() if breaker._timed else 0.0

    def leave(
        self, entry: tuple[CircuitBreaker, int, float] | None, exc: BaseException | None
    ) -> None:
        """Record how the iteration ended; ``exc`` None for exhaustion or close()."""
        if entry is None:
            return
        breaker, token, start = entry
        if exc is None:
            breaker._record(token, start, _SUCCESS, None)
        else:
            breaker._record_error(token, start, exc)


def generators(
    fn: Callable[P, R],
    *,
    hold: BreakerHold | None = None,
    retry: RetryPolicy | None = None,
    fallback: Callable[..., Any] | None = None,
) -> Callable[P, R]:
    """``fn``, a generator function, run under a breaker's hold, a retry, a fallback.

    The result is a generator function again (an async one for an async ``fn``), whose
    ``send()`` and ``throw()`` reach ``fn``'s generator. The retry and the fallback apply
    only until the first item: ``fallback(exc, *args, **kwargs)`` then gives an iterable
    whose items are yielded instead.
    """
    if inspect.isasyncgenfunction(fn):
        return cast("Callable[P, R]", _agenerators(fn, hold, retry, fallback))
    gen_fn = cast("Callable[..., Generator[Any, Any, Any]]", fn)

    @functools.wraps(fn)
    def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:  # noqa: ANN401
        def first() -> tuple[Generator[Any, Any, Any] | None, Any, Any]:
            entry = hold.enter(args, kwargs) if hold is not None else None
            try:
                gen = gen_fn(*args, **kwargs)
                item = next(gen)
            except StopIteration as stop:  # empty: a success, and its return value
                if hold is not None:
                    hold.leave(entry, None)
                return None, stop.value, None
            except BaseException as exc:
                if hold is not None:
                    hold.leave(entry, exc)
                raise
            return gen, item, entry

        try:
            if retry is None:
                gen, item, entry = first()
            else:
                gen, item, entry = retry._call_as(first, (), fn, args, kwargs)
        except Exception as exc:
            if fallback is None or isinstance(exc, MisusedCallError):
                raise
            return (yield from fallback(exc, *args, **kwargs))
        if gen is None:
            return item
        error: BaseException | None = None
        try:
            return (yield from _resume(gen, item))
        except GeneratorExit:
            raise  # closed by its consumer: a success
        except BaseException as exc:
            error = exc
            raise
        finally:
            if hold is not None:
                hold.leave(entry, error)

    return cast("Callable[P, R]", generator)


def _resume(gen: Generator[Any, Any, Any], item: object) -> Generator[Any, Any, Any]:
    """Yield ``item``, then the rest of ``gen``, passing send() and throw() through.

    ``yield from`` with a first item already taken out: what PEP 380 does, by hand.
    """
    while True:
        try:
            sent = yield item
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:
            try:
                item = gen.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                item = gen.send(sent)
            except StopIteration as stop:
                return stop.value


def _agenerators(
    fn: Callable[..., AsyncGenerator[Any, Any]],
    hold: BreakerHold | None,
    retry: RetryPolicy | None,
    fallback: Callable[..., Any] | None,
) -> Callable[..., AsyncGenerator[Any, Any]]:
    @functools.wraps(fn)
    async def agenerator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:  # noqa: ANN401
        agen, item, entry = await _aopen(
            fn, args, kwargs, hold=hold, retry=retry, fallback=fallback
        )
        if agen is None:
            return
        error: BaseException | None = None
        try:
            # No `yield from` in async generators: asend() and athrow() by hand.
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    try:
                        item = await agen.athrow(exc)
                    except StopAsyncIteration:
                        return
                else:
                    try:
                        item = await agen.asend(sent)
                    except StopAsyncIteration:
                        return
        except GeneratorExit:
            raise  # closed by its consumer: a success
        except BaseException as exc:
            error = exc
            raise
        finally:
            if hold is not None:
                hold.leave(entry, error)

    return agenerator


async def _aopen(
    fn: Callable[..., AsyncGenerator[Any, Any]],
    args: Args,
    kwargs: Kwargs,
    *,
    hold: BreakerHold | None,
    retry: RetryPolicy | None,
    fallback: Callable[..., Any] | None,
) -> tuple[AsyncGenerator[Any, Any] | None, Any, Any]:
    """The generator, its first item and the hold's entry; (None, ...) when it is empty.

    After a failure the retry runs it again; when the retrying fails, the fallback's
    iterable stands in for it.
    """

    async def first() -> tuple[AsyncGenerator[Any, Any] | None, Any, Any]:
        entry = hold.enter(args, kwargs) if hold is not None else None
        try:
            agen = fn(*args, **kwargs)
            item = await agen.__anext__()
        except StopAsyncIteration:
            if hold is not None:
                hold.leave(entry, None)
            return None, None, None
        except BaseException as exc:
            if hold is not None:
                hold.leave(entry, exc)
            raise
        return agen, item, entry

    try:
        if retry is None:
            return await first()
        return await retry._acall_as(first, (), fn, args, kwargs)
    except Exception as exc:
        if fallback is None or isinstance(exc, MisusedCallError):
            raise
        replacement = fallback(exc, *args, **kwargs)
        if inspect.isawaitable(replacement):
            replacement = await replacement
        items = _aeach(replacement)
        try:
            return items, await items.__anext__(), None
        except StopAsyncIteration:
            return None, None, None


async def _aeach(items: Any) -> AsyncGenerator[Any, Any]:  # noqa: ANN401 - the fallback's
    """The items of a fallback's iterable, sync or async."""
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
