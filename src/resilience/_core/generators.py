"""Generator functions through a pipeline: the iteration is the call.

Until its first item a generator is an attempt like any other (retried, replaced by a
fallback's iterable); from then on the strategies that hold it (a breaker's permit) hold
it until it ends, when each is told the outcome (exhausted or closed: a success; an
exception: a failure) and nothing can be retried.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, cast

from resilience._core.blocks import Held, Settling, blocks
from resilience._core.drive import (
    AWAIT,
    DONE,
    Segment,
    aenter,
    aunwind,
    enter,
    reraise,
    unwind,
)

__all__ = ["agenerator", "generator"]

Sleep = Callable[[float], None]
ASleep = Callable[[float], Awaitable[None]]


def generator(
    segment: Segment, fn: Callable[..., Generator[Any, Any, Any]], sleep: Sleep
) -> Callable[..., Generator[Any, Any, Any]]:
    """``fn``, a generator function, through ``segment``: a generator function again."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:  # noqa: ANN401
        return (yield from _generate(segment, fn, args, kwargs, sleep, blocks()))

    return wrapper


def _generate(  # noqa: PLR0917 - the engine's inner steps: positional, for speed
    segment: Segment,
    fn: Callable[..., Generator[Any, Any, Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sleep: Sleep,
    held: Held,
) -> Generator[Any, Any, Any]:
    strategies = segment.strategies
    n = len(strategies)
    tokens: list[object] = [None] * n
    top, error = enter(strategies, tokens, 0, fn, args, kwargs, held)
    value: object = None
    while True:
        if top == n and error is None:
            try:
                gen = fn(*args, **kwargs)
                item = next(gen)
            except StopIteration as stop:  # empty: a success with its return value
                value = stop.value
            except BaseException as exc:
                value, error = None, exc
            else:
                break
        failed = error
        step, i, value, error = unwind(strategies, tokens, top - 1, value, error, False)  # noqa: FBT003
        if step == DONE:
            if error is not None:
                reraise(error)
            if failed is not None:  # a fallback's iterable stands in for the generator
                return (yield from cast("Any", value))
            return value
        if cast("float", value) > 0:
            sleep(cast("float", value))
        top, error = enter(strategies, tokens, i + 1, fn, args, kwargs, held)
    with Settling(strategies, tokens):
        return (yield from _resume(gen, item))


def _resume(gen: Generator[Any, Any, Any], item: object) -> Generator[Any, Any, Any]:
    """Yield ``item``, then the rest of ``gen``, passing ``send()`` and ``throw()`` on."""
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


def agenerator(  # noqa: PLR0915 - the driver is the wrapper's own body (see below)
    segment: Segment, fn: Callable[..., AsyncGenerator[Any, Any]], asleep: ASleep
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """``fn``, an async generator function, through ``segment``: one again.

    The driver is the wrapper's own body: an async generator cannot ``yield from``
    another, and ``asend()`` / ``athrow()`` must reach ``fn``'s.
    """

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:  # noqa: ANN401, PLR0915
        held = blocks()
        strategies = segment.strategies
        n = len(strategies)
        tokens: list[object] = [None] * n
        if segment.waits:
            top, error = await aenter(strategies, tokens, 0, fn, args, kwargs, held)
        else:
            top, error = enter(strategies, tokens, 0, fn, args, kwargs, held)
        value: object = None
        while True:
            if top == n and error is None:
                try:
                    agen = fn(*args, **kwargs)
                    item = await agen.__anext__()
                except StopAsyncIteration:
                    value = None
                except BaseException as exc:
                    value, error = None, exc
                else:
                    break
            failed = error
            step, i, value, error = unwind(strategies, tokens, top - 1, value, error, True)  # noqa: FBT003
            if step == AWAIT:
                step, i, value, error = await aunwind(strategies, tokens, i, value)
            if step == DONE:
                if error is not None:
                    reraise(error)
                if failed is not None:  # a fallback's iterable stands in for the generator
                    async for each in _aeach(value):
                        yield each
                return
            if cast("float", value) > 0:
                await asleep(cast("float", value))
            if segment.waits:
                top, error = await aenter(strategies, tokens, i + 1, fn, args, kwargs, held)
            else:
                top, error = enter(strategies, tokens, i + 1, fn, args, kwargs, held)
        with Settling(strategies, tokens):
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

    return wrapper


async def _aeach(items: Any) -> AsyncGenerator[Any, Any]:  # noqa: ANN401 - the fallback's
    """The items of a fallback's iterable, sync or async."""
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
