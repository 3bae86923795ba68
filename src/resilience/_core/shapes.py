"""Decorated functions, by the shape of their pipeline: where the fast paths live.

The shape is read once, when a function is decorated. While every strategy is passive
but at most one fast lane (a CLOSED breaker, or a registry of them), a success costs
the wrapper's frame and nothing else: no token, no ``before``, no ``after``. The first
failure enters the loop of :mod:`resilience._core.drive`, where it is treated exactly
as if the attempt had been made there.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

from resilience._core.blocks import MARK, blocks
from resilience._core.drive import Segment, arun, run
from resilience._core.generators import agenerator, generator
from resilience._core.strategy import FastLane, LaneChooser, Replace, Strategy

__all__ = ["decorate"]


def decorate(segment: Segment, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (sync, async, or a generator function of either) through ``segment``."""
    wrapper: Callable[..., Any]
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        if segment.wrap is not None:
            raise TypeError(
                f"{segment.wrap!r} cannot bound the iteration of the generator function "
                f"{getattr(fn, '__qualname__', fn)!r}: a time limit (or hedging) runs one "
                "call, and a generator's items come over many; bound the work inside it"
            )
        if inspect.isasyncgenfunction(fn):
            wrapper = agenerator(segment, fn, segment.asleep)
        else:
            wrapper = generator(segment, fn, segment.sleep)
    elif inspect.iscoroutinefunction(fn):
        wrapper = _async(segment, fn)
    else:
        for strategy in _all(segment):  # an async-only strategy (a hedge) says why not
            refuse = getattr(strategy, "refuse_sync", None)
            if refuse is not None:
                refuse(fn)
        wrapper = _sync(segment.sync, fn)
    once = tuple(s for s in _all(segment) if getattr(s, "once", False))
    if once:
        setattr(wrapper, MARK, once)  # see drive.call: not admitted twice
    return wrapper


def _all(segment: Segment | None) -> list[Strategy]:
    found: list[Strategy] = []
    while segment is not None:
        found.extend(segment.strategies)
        segment = segment.inner
    return found


def _sync(segment: Segment, fn: Callable[..., Any]) -> Callable[..., Any]:
    sleep = segment.sleep
    strategies = segment.strategies
    if segment.passive and len(strategies) == 1:
        return _loop(strategies[0], fn, sleep)
    if segment.passive or segment.observed:
        return _passive(segment, fn, sleep)
    lane = segment.lane if segment.observe is None else segment.observed_lane
    if lane is not None:
        return _lane(segment, lane, fn, sleep)
    chooser = _chooser(segment)
    if chooser is not None:
        return _chosen(segment, chooser, fn, sleep)
    if len(strategies) == 1 and segment.wrap is None:
        return _single(strategies[0], fn, sleep)

    @functools.wraps(fn)
    def engine(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        return run(segment, fn, args, kwargs, sleep, None, None, blocks())

    return engine


def _passive(
    segment: Segment, fn: Callable[..., Any], sleep: Callable[[float], None]
) -> Callable[..., Any]:
    """Passive strategies: nothing before a first attempt; some told of each success."""
    strategies = segment.strategies
    observe = segment.observe

    @functools.wraps(fn)
    def passive(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            tokens = [s.before(fn, args, kwargs) for s in strategies]
            return run(segment, fn, args, kwargs, sleep, tokens, exc, blocks())
        if observe is not None:
            observe(args, kwargs, value)  # a cached fallback records it
        return value

    return passive


def _single(
    strategy: Strategy, fn: Callable[..., Any], sleep: Callable[[float], None]
) -> Callable[..., Any]:
    """One strategy that is not a fast lane: the loop, inline, in the wrapper itself."""
    return functools.wraps(fn)(_one(strategy, fn, sleep))


def _one(
    strategy: Strategy, fn: Callable[..., Any], sleep: Callable[[float], None]
) -> Callable[..., Any]:
    """The loop of a lone strategy (a windowed breaker, one that is OPEN): no token list."""
    before, after = strategy.before, strategy.after

    def step(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        held = blocks()
        if held and strategy in held:
            return fn(*args, **kwargs)  # the enclosing `with` block admits the call
        token = before(fn, args, kwargs)
        while True:
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                decision = after(token, None, exc)
                if decision is None:
                    raise
            else:
                decision = after(token, value, None)
                if decision is None:
                    return value
            if decision.__class__ is Replace:
                if decision.error is not None:
                    raise decision.error
                return decision.value
            if decision > 0:  # type: ignore[operator] # a wait
                sleep(decision)  # type: ignore[arg-type]

    return step


def _loop(
    strategy: Strategy, fn: Callable[..., Any], sleep: Callable[[float], None]
) -> Callable[..., Any]:
    """A lone passive strategy (a plain retry): ``after`` on failures only."""
    before, after = strategy.before, strategy.after

    # The loop is a function of its own so that the wrapper's frame, made on every
    # call, holds only what a success needs.
    def again(args: tuple[Any, ...], kwargs: dict[str, Any], error: Exception) -> Any:  # noqa: ANN401
        token = before(fn, args, kwargs)
        try:
            while True:
                decision = after(token, None, error)
                if decision is None:
                    raise error
                if decision.__class__ is Replace:
                    if decision.error is not None:
                        raise decision.error
                    return decision.value
                if decision > 0:  # type: ignore[operator] # not None, not Replace: a wait
                    sleep(decision)  # type: ignore[arg-type]
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:
                    error = exc
        finally:
            del error  # the frame would hold the traceback that holds it

    @functools.wraps(fn)
    def loop(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = exc  # retried outside the handler: no attempt's error is another's context
        try:
            return again(args, kwargs, error)
        finally:
            del error

    return loop


def _lane(
    segment: Segment, lane: FastLane, fn: Callable[..., Any], sleep: Callable[[float], None]
) -> Callable[..., Any]:
    if len(segment.strategies) == 1:
        slow = _one(segment.strategies[0], fn, sleep)
    else:

        def slow(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            return run(segment, fn, args, kwargs, sleep, None, None, blocks())

    observe = segment.observe

    # The failure path is a function of its own, as in _loop: a success needs less.
    def failed(
        token: int, args: tuple[Any, ...], kwargs: dict[str, Any], exc: BaseException
    ) -> Any:  # noqa: ANN401
        tokens = segment.deferred(token, fn, args, kwargs)
        return run(segment, fn, args, kwargs, sleep, tokens, exc)

    @functools.wraps(fn)
    def fast(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        token = lane.fast_epoch
        if token is None:
            return slow(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            return failed(token, args, kwargs, exc)
        if token == lane.epoch:  # a stale success must not reset a later period's count
            lane.streak = 0
        if observe is not None:
            observe(args, kwargs, result)  # after() was skipped: a cached fallback records
        return result

    return fast


def _chooser(segment: Segment) -> tuple[int, LaneChooser] | None:
    """The one strategy that is not passive, when it chooses a fast lane per call."""
    if segment.wrap is not None:
        return None
    active = [i for i, s in enumerate(segment.strategies) if not getattr(s, "passive", False)]
    if len(active) == 1 and hasattr(segment.strategies[active[0]], "lanes"):
        return active[0], cast("LaneChooser", segment.strategies[active[0]])
    return None


def _chosen(
    segment: Segment,
    chooser: tuple[int, LaneChooser],
    fn: Callable[..., Any],
    sleep: Callable[[float], None],
) -> Callable[..., Any]:
    at, strategy = chooser
    get, remote = strategy.lanes()
    strategies = segment.strategies

    def failed(
        lane: FastLane, token: int, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[object]:
        return [
            (lane, token) if i == at else s.before(fn, args, kwargs)
            for i, s in enumerate(strategies)
        ]

    observe = segment.observe
    name = remote if isinstance(remote, str) else None
    pick = cast("Callable[..., str]", remote)

    @functools.wraps(fn)
    def chosen(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        lane = get(name if name is not None else pick(*args, **kwargs))
        token = lane.fast_epoch
        if token is None:
            return run(segment, fn, args, kwargs, sleep, None, None, blocks())
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            return run(segment, fn, args, kwargs, sleep, failed(lane, token, args, kwargs), exc)
        if token == lane.epoch:
            lane.streak = 0
        if observe is not None:
            observe(args, kwargs, result)  # after() was skipped: a cached fallback records
        return result

    return chosen


def _async(segment: Segment, fn: Callable[..., Any]) -> Callable[..., Any]:
    afn = cast("Callable[..., Awaitable[Any]]", fn)
    asleep = segment.asleep
    strategies = segment.strategies
    observe = segment.observe
    if segment.passive or segment.observed:

        @functools.wraps(fn)
        async def passive(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            try:
                value = await afn(*args, **kwargs)
            except Exception as exc:
                tokens = [s.before(fn, args, kwargs) for s in strategies]
                return await arun(segment, afn, args, kwargs, asleep, tokens, exc, blocks())
            if observe is not None:
                observe(args, kwargs, value)
            return value

        return passive
    lane = segment.lane if observe is None else segment.observed_lane
    if lane is not None:

        async def failed(
            token: int, args: tuple[Any, ...], kwargs: dict[str, Any], exc: BaseException
        ) -> Any:  # noqa: ANN401
            tokens = segment.deferred(token, fn, args, kwargs)
            return await arun(segment, afn, args, kwargs, asleep, tokens, exc)

        @functools.wraps(fn)
        async def fast(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            token = lane.fast_epoch
            if token is None:
                return await arun(segment, afn, args, kwargs, asleep, None, None, blocks())
            try:
                result = await afn(*args, **kwargs)
            except BaseException as exc:
                return await failed(token, args, kwargs, exc)
            if token == lane.epoch:
                lane.streak = 0
            if observe is not None:
                observe(args, kwargs, result)
            return result

        return fast
    if len(strategies) == 1 and segment.wrap is None:
        return _asingle(strategies[0], afn, asleep)

    @functools.wraps(fn)
    async def engine(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        return await arun(segment, afn, args, kwargs, asleep, None, None, blocks())

    return engine


def _asingle(
    strategy: Strategy,
    afn: Callable[..., Awaitable[Any]],
    asleep: Callable[[float], Awaitable[None]],
) -> Callable[..., Any]:
    """:func:`_one`, awaited: a lone strategy's loop inline (its ``abefore`` if it has one)."""
    before, after = strategy.before, strategy.after
    abefore = getattr(strategy, "abefore", None)

    @functools.wraps(afn)
    async def single(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        held = blocks()
        if held and strategy in held:
            return await afn(*args, **kwargs)  # the enclosing `with` block admits the call
        if abefore is None:
            token = before(afn, args, kwargs)
        else:
            token = await abefore(afn, args, kwargs)
        while True:
            try:
                value = await afn(*args, **kwargs)
            except BaseException as exc:
                decision = after(token, None, exc)
                if decision is None:
                    raise
            else:
                decision = after(token, value, None)
                if decision is None:
                    return value
            if decision.__class__ is Replace:
                if decision.error is not None:
                    raise decision.error
                value = decision.value
                return await value if inspect.isawaitable(value) else value
            if decision > 0:  # type: ignore[operator] # a wait
                await asleep(decision)  # type: ignore[arg-type]

    return single
