"""The drivers: one sync and one async loop that run a pipeline of strategies around a call.

Each attempt runs ``before`` of the strategies outermost first, then the call, then
``after`` innermost first (see :mod:`resilience._core.strategy`). A strategy that
answers with a wait makes the strategies inside it, and the call, run again; those
outside it stay entered. A :class:`~resilience._core.strategy.Wrapping` strategy splits
the pipeline into segments: what is inside it runs as a segment of its own, through the
wrapping strategy's ``run`` / ``arun``.

Besides the loops: :func:`call` / :func:`acall`, the ``call()`` forms, with the fast lane
at their head. Generators are driven in :mod:`resilience._core.generators`, ``with``
blocks kept in :mod:`resilience._core.blocks`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, cast

from resilience._core.blocks import HELD, MARK, Held
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.misuse import AWAITABLES, misused
from resilience._core.strategy import FastLane, Replace, Strategy, Wrapping

__all__ = [
    "AWAIT",
    "DONE",
    "WAIT",
    "Segment",
    "acall",
    "aenter",
    "arun",
    "aunwind",
    "call",
    "enter",
    "reraise",
    "run",
    "unwind",
]

WAIT: Final = 0
AWAIT: Final = 1
DONE: Final = 2

Sleep = Callable[[float], None]
ASleep = Callable[[float], Awaitable[None]]


class Segment:
    """Strategies that run in one loop, and what they run: the call, or a wrapped segment.

    Also what the fast paths need to know, read once: whether every strategy is passive
    but one fast lane, and which.
    """

    __slots__ = (
        "asleep",
        "inner",
        "lane",
        "lane_at",
        "observe",
        "observed",
        "observed_lane",
        "passive",
        "sleep",
        "strategies",
        "sync",
        "waits",
        "wrap",
    )

    def __init__(self, strategies: Sequence[Strategy], clock: Clock = SYSTEM_CLOCK) -> None:
        self.sleep: Sleep = clock.sleep  # the waits the strategies ask for
        self.asleep: ASleep = clock.asleep
        # What sync calls run: a wrapping strategy with a plain stand-in for sync calls
        # (a sync time limit only measures) needs no segment of its own there.
        self.sync: Segment = self
        if any(isinstance(s, Wrapping) and hasattr(s, "for_sync") for s in strategies):
            self.sync = Segment(
                [
                    s.for_sync() if isinstance(s, Wrapping) and hasattr(s, "for_sync") else s
                    for s in strategies
                ],
                clock,
            )
        self.wrap: Wrapping | None = None
        self.inner: Segment | None = None
        for i, strategy in enumerate(strategies):
            if isinstance(strategy, Wrapping):
                self.strategies = tuple(strategies[: i + 1])
                self.wrap = strategy
                self.inner = Segment(strategies[i + 1 :], clock)
                break
        else:
            self.strategies = tuple(strategies)
        # A strategy that may wait to admit an attempt (a bulkhead's queue) has an async
        # admission, ``abefore``, which the async drivers await instead of ``before``.
        self.waits = any(callable(getattr(s, "abefore", None)) for s in self.strategies)
        passive = [bool(getattr(s, "passive", False)) for s in self.strategies]
        active = [i for i, p in enumerate(passive) if not p]
        self.passive = self.wrap is None and not active
        # The one strategy that is not passive, when it is a fast lane: its index.
        self.lane_at = -1
        self.lane: FastLane | None = None
        if self.wrap is None and len(active) == 1:
            candidate = self.strategies[active[0]]
            if all(hasattr(candidate, a) for a in ("fast_epoch", "epoch", "streak")):
                self.lane_at = active[0]
                self.lane = cast("FastLane", candidate)
        # Passive strategies told of each success by succeeded() (a cached fallback): a
        # fast path that skips after() must call them, and only the observing ones do:
        # ``observed`` (all passive) and the sync decorators' ``observed_lane``.
        observers = [
            s.succeeded  # type: ignore[attr-defined]
            for s in self.strategies
            if callable(getattr(s, "succeeded", None))
        ]
        self.observe: Observe | None = None
        self.observed = False
        self.observed_lane: FastLane | None = None
        if observers:
            self.observe = observers[0] if len(observers) == 1 else _every(observers)
            self.observed, self.passive = self.passive, False
            self.observed_lane, self.lane = self.lane, None

    def deferred(
        self,
        lane_token: object,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        held: Held = (),
    ) -> list[object]:
        """The tokens after a failed fast first attempt: passive ``before`` runs only now."""
        lane_at = self.lane_at
        return [
            HELD
            if held and s in held
            else lane_token
            if i == lane_at
            else s.before(fn, args, kwargs)
            for i, s in enumerate(self.strategies)
        ]


Observe = Callable[[tuple[Any, ...], dict[str, Any], object], object]


def _every(observers: list[Observe]) -> Observe:
    def observe(args: tuple[Any, ...], kwargs: dict[str, Any], value: object) -> None:
        for each in observers:
            each(args, kwargs, value)

    return observe


def enter(  # noqa: PLR0917 - the engine's inner steps: positional, for speed
    strategies: tuple[Strategy, ...],
    tokens: list[object],
    i: int,
    fn: Callable[..., Any] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    held: Held,
    awaiting: bool = False,
) -> tuple[int, BaseException | None]:
    """``before`` from strategy ``i`` inward: how far it got, and the refusal if any.

    ``awaiting``: stop short at a strategy whose admission is awaited (``abefore``).
    """
    n = len(strategies)
    while i < n:
        strategy = strategies[i]
        if held and strategy in held:
            tokens[i] = HELD
        elif awaiting and getattr(strategy, "abefore", None) is not None:
            return i, None
        else:
            try:
                tokens[i] = strategy.before(fn, args, kwargs)
            except BaseException as exc:  # a refusal: the outcome for those outside
                return i, exc
        i += 1
    return n, None


async def aenter(  # noqa: PLR0917
    strategies: tuple[Strategy, ...],
    tokens: list[object],
    i: int,
    fn: Callable[..., Any] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    held: Held,
) -> tuple[int, BaseException | None]:
    """:func:`enter`, awaiting the ``abefore`` of each strategy that has one."""
    n = len(strategies)
    while True:
        i, refusal = enter(strategies, tokens, i, fn, args, kwargs, held, True)  # noqa: FBT003
        if refusal is not None or i == n:
            return i, refusal
        try:
            tokens[i] = await strategies[i].abefore(fn, args, kwargs)  # type: ignore[attr-defined]
        except BaseException as exc:  # a refusal (or a cancelled wait): the outcome
            return i, exc
        i += 1


def unwind(  # noqa: PLR0917
    strategies: tuple[Strategy, ...],
    tokens: list[object],
    i: int,
    value: object,
    error: BaseException | None,
    awaiting: bool,
) -> tuple[int, int, object, BaseException | None]:
    """``after`` from strategy ``i`` outward.

    ``(WAIT, i, delay, error)``: strategy ``i`` asked for another attempt after
    ``delay``. ``(AWAIT, i, awaitable, None)``: it replaced the value with an awaitable
    (only when ``awaiting``). ``(DONE, -1, value, error)``: the final outcome.
    """
    while i >= 0:
        token = tokens[i]
        if token is not HELD:
            try:
                decision = strategies[i].after(token, value, error)
            except BaseException as exc:  # a strategy's own failure becomes the outcome
                if exc is not error:
                    exc.__context__ = error
                decision, value, error = None, None, exc
            if decision is not None:
                if decision.__class__ is not Replace:
                    return WAIT, i, decision, error
                value, error = decision.value, decision.error
                if awaiting and error is None and inspect.isawaitable(value):
                    return AWAIT, i, value, None
        i -= 1
    return DONE, -1, value, error


async def aunwind(
    strategies: tuple[Strategy, ...], tokens: list[object], i: int, pending: object
) -> tuple[int, int, object, BaseException | None]:
    """The rest of :func:`unwind` once strategy ``i`` replaced the outcome by an awaitable.

    Awaited (an async fallback's value), its outcome goes on outward from ``i - 1``.
    """
    while True:
        try:
            value, error = await cast("Awaitable[object]", pending), None
        except BaseException as exc:
            value, error = None, exc
        step, i, pending, error = unwind(strategies, tokens, i - 1, value, error, True)  # noqa: FBT003
        if step != AWAIT:
            return step, i, pending, error


def reraise(error: BaseException) -> Any:  # noqa: ANN401 - never returns
    try:
        raise error
    finally:
        del error  # the frame would hold its own traceback


def run(  # noqa: PLR0917
    segment: Segment,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sleep: Sleep,
    tokens: list[object] | None = None,
    error: BaseException | None = None,
    held: Held = (),
    strict: object = None,
) -> Any:  # noqa: ANN401 - the call's own result
    """Run ``fn(*args, **kwargs)`` through ``segment``.

    With ``tokens`` and ``error``, the first attempt was made (on a fast path) and failed
    with ``error``: the loop starts by unwinding it. ``held``: strategies not to apply
    again. ``strict``: refuse an awaitable result (the caller's name, for the error).
    """
    strategies = segment.strategies
    n = len(strategies)
    value: object = None
    if tokens is None:
        tokens = [None] * n
        top, error = enter(strategies, tokens, 0, fn, args, kwargs, held)
    else:
        top = n
    attempt = fn
    if segment.wrap is not None:  # the inner segment, run by the wrapping strategy
        inner = functools.partial(
            run, cast("Segment", segment.inner), fn, args, kwargs, sleep, None, None, held
        )
        attempt = functools.partial(segment.wrap.run, inner, fn)
    while True:
        if top == n and error is None:
            try:
                value = attempt(*args, **kwargs) if attempt is fn else attempt()
                if strict is not None and type(value) in AWAITABLES:
                    raise misused(_named(strict), fn, value)  # noqa: TRY301 - it is the outcome
            except BaseException as exc:  # every outcome goes through the strategies
                value, error = None, exc
        step, i, value, error = unwind(strategies, tokens, top - 1, value, error, False)  # noqa: FBT003
        if step == DONE:
            break
        if value > 0:  # type: ignore[operator] # a wait
            sleep(value)  # type: ignore[arg-type]
        value = None
        top, error = enter(strategies, tokens, i + 1, fn, args, kwargs, held)
    if error is not None:
        reraise(error)
    return value


async def arun(  # noqa: PLR0917
    segment: Segment,
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    asleep: ASleep,
    tokens: list[object] | None = None,
    error: BaseException | None = None,
    held: Held = (),
) -> Any:  # noqa: ANN401 - the call's own result
    """:func:`run`, awaiting the call, the waits and awaitable replacements."""
    strategies = segment.strategies
    n = len(strategies)
    value: object = None
    if tokens is None:
        tokens = [None] * n
        if segment.waits:
            top, error = await aenter(strategies, tokens, 0, fn, args, kwargs, held)
        else:
            top, error = enter(strategies, tokens, 0, fn, args, kwargs, held)
    else:
        top = n
    attempt = fn
    if segment.wrap is not None:
        inner = functools.partial(
            arun, cast("Segment", segment.inner), fn, args, kwargs, asleep, None, None, held
        )
        attempt = functools.partial(segment.wrap.arun, inner, fn)
    while True:
        if top == n and error is None:
            try:
                value = await (attempt(*args, **kwargs) if attempt is fn else attempt())
            except BaseException as exc:
                value, error = None, exc
        step, i, value, error = unwind(strategies, tokens, top - 1, value, error, True)  # noqa: FBT003
        if step == AWAIT:
            step, i, value, error = await aunwind(strategies, tokens, i, value)
        if step == DONE:
            break
        if value > 0:  # type: ignore[operator] # a wait
            await asleep(value)  # type: ignore[arg-type]
        value = None
        if segment.waits:
            top, error = await aenter(strategies, tokens, i + 1, fn, args, kwargs, held)
        else:
            top, error = enter(strategies, tokens, i + 1, fn, args, kwargs, held)
    if error is not None:
        reraise(error)
    return value


# -------------------------------------------------------------------- the call() forms
#
# A decorated function takes its fast path in its wrapper (see _core.shapes); call()
# takes the same one at its head, so that `breaker.call(fn)` costs a frame, not a loop.


def call(
    segment: Segment,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    owner: object,
) -> Any:  # noqa: ANN401 - the call's own result
    """``fn(*args, **kwargs)`` through ``segment``; refuses an awaitable result.

    A function decorated with a ``once`` strategy of this segment is not admitted by it
    again. ``owner`` (its class's name, or a name) is whose ``call()`` it was, for the
    error when ``fn`` is an async function.
    """
    segment = segment.sync
    observe = segment.observe
    lane = segment.lane if observe is None else segment.observed_lane
    token = None if lane is None else lane.fast_epoch
    if token is not None or segment.observed:  # a fast first attempt, as a decorator's
        try:
            value = fn(*args, **kwargs)
            if type(value) in AWAITABLES:
                raise misused(_named(owner), fn, value)  # noqa: TRY301 - the outcome
        except BaseException as exc:
            # A wrapper of a `once` strategy of ours applied (and recorded) it already.
            held: Held = getattr(fn, MARK, ())
            tokens = segment.deferred(token, fn, args, kwargs, held)
            return run(segment, fn, args, kwargs, segment.sleep, tokens, exc, held, owner)
        if lane is not None and token == lane.epoch:  # a stale success resets nothing
            lane.streak = 0
        if observe is not None:
            observe(args, kwargs, value)  # a cached fallback records it
        return value
    return run(segment, fn, args, kwargs, segment.sleep, None, None, getattr(fn, MARK, ()), owner)


def _named(owner: object) -> str:
    return owner if isinstance(owner, str) else type(owner).__name__


async def acall(
    segment: Segment,
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:  # noqa: ANN401 - the call's own result
    """``await fn(*args, **kwargs)`` through ``segment`` (see :func:`call`)."""
    held = getattr(fn, MARK, ())
    return await arun(segment, fn, args, kwargs, segment.asleep, None, None, held)
