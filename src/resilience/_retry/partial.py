"""Partial retries: a multi-item call retried with only its failed, retryable items."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from resilience._classify.classifier import PartialFailure
from resilience._retry.run import Retrying, Run, Settings, partial_give_up, partial_items

__all__ = ["partial_shells"]

P = ParamSpec("P")
R = TypeVar("R")


def partial_shells(policy: Retrying, fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` retried by ``policy`` item by item (see :meth:`RetryPolicy.partial`)."""
    if inspect.iscoroutinefunction(fn):
        afn = cast("Callable[..., Awaitable[Any]]", fn)

        @functools.wraps(fn)
        async def apartial(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            _items_first(fn, args)
            run = policy.before(fn, args, kwargs)
            asleep = policy.settings.clock.asleep
            while True:
                try:
                    return await afn(*args, **kwargs)
                except Exception as exc:
                    delay, args = _next(policy.settings, run, exc, args)
                if delay:
                    await asleep(delay)

        return cast("Callable[P, R]", apartial)

    @functools.wraps(fn)
    def partial(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        _items_first(fn, args)
        run = policy.before(fn, args, kwargs)
        sleep = policy.settings.clock.sleep
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                delay, args = _next(policy.settings, run, exc, args)
            if delay:
                sleep(delay)

    return cast("Callable[P, R]", partial)


def _next(
    s: Settings, run: Run, exc: Exception, args: tuple[Any, ...]
) -> tuple[float, tuple[Any, ...]]:
    """The wait, and the arguments of the next attempt; raises when there is none.

    After a PartialFailure only its failed, retryable items are tried again; when none
    is left, or the policy gives up, a PartialFailure with every success and every last
    failure is raised.
    """
    if isinstance(exc, PartialFailure):
        items = partial_items(s, run, exc)
        delay = s.after(run, None, exc) if items else None
        if delay is None:
            raise partial_give_up(run, exc) from None
        return delay, (items, *args[1:])
    delay = s.after(run, None, exc)
    if delay is None:
        raise exc
    return delay, args


def _items_first(fn: Callable[..., object], args: tuple[object, ...]) -> None:
    if not args:
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} is retried item by item: pass the "
            "items as its first positional argument"
        )
