"""Hedge: another attempt when the first has not answered in time; the first success wins.

Async only, and only for idempotent calls: a hedged call may run two or more times at
once, and an attempt that loses is cancelled wherever it got to.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NoReturn, ParamSpec, TypeVar, cast

from pydantic import Field, model_validator

from resilience._core.clock import SYSTEM_CLOCK, Clock, SystemClock
from resilience._core.drive import Segment
from resilience._core.events import emit
from resilience._core.log import log_event, logger
from resilience._core.measure import Measurement
from resilience._core.options import Options, Seconds
from resilience._core.options import seconds as as_seconds
from resilience._core.shells import Shell, require_callable
from resilience._core.text import safe_repr
from resilience._hedge.events import HedgeStarted, HedgeWon
from resilience._hedge.latency import Latencies
from resilience._hedge.race import Race
from resilience._hedge.sweep import Sweep

__all__ = ["Hedge"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

Hook = Callable[[HedgeStarted | HedgeWon], object]


class _HedgeOptions(Options):
    delay: Seconds = Field(ge=0)
    max_hedges: int = Field(default=1, ge=1, le=16)
    percentile: float | None = Field(default=None, gt=0, lt=100)
    window: int = Field(default=200, ge=10, le=100_000)
    min_samples: int = Field(default=20, ge=1)
    name: str = Field(default="hedge", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _samples_fit(self) -> _HedgeOptions:
        if self.min_samples > self.window:
            raise ValueError(
                f"min_samples={self.min_samples} must be at most window={self.window}: the "
                "window holds the latencies the percentile is taken from"
            )
        return self


def _named(fn: object) -> str:
    return safe_repr(getattr(fn, "__qualname__", fn), limit=200)


class Hedge(Shell):
    """After ``delay`` without an answer, start another attempt; the first success wins.

    For **idempotent** async calls only (a read, a lookup, a PUT of the same body): a
    hedged call runs up to ``1 + max_hedges`` attempts at once, and each loser is
    cancelled, wherever it got to, and awaited before the call returns. A hedge is not a
    retry: it starts an attempt because one is *slow*, never because one failed; the call
    fails once every attempt started has failed (with the last failure), and a retry
    outside it decides what follows. Hedges are counted apart from retries: their own
    events (``hedge.started``, ``hedge.won``) and totals in :meth:`measurements`.

    Put it inside the breaker and outside the time limit: ``Pipeline(retry, breaker,
    Hedge(...), Timeout(...))`` runs each attempt under its own time limit, and the
    breaker sees one outcome per call.

    Args:
        delay: The wait before each hedge, in seconds or as a ``timedelta``; with
            ``percentile``, the wait until ``min_samples`` latencies are measured.
        max_hedges: The most attempts started besides the first (1 to 16).
        percentile: Wait the ``percentile``-th percentile (0 to 100, exclusive) of the
            latencies measured on ``clock`` instead of a fixed delay: 95 hedges about the
            slowest 5% of calls.
        window: How many recent latencies the percentile is taken from.
        min_samples: How many latencies to measure before trusting the percentile.
        name: In events and measurements.
        on_hedge: Called with each :class:`HedgeStarted` and :class:`HedgeWon`.
        clock: Waits the delay and measures latencies; a
            :class:`~resilience.testing.FakeClock` makes the delay instant.

    Raises:
        TypeError: On a sync function: a sync call cannot be raced or cancelled.
    """

    __slots__ = (
        "_calls",
        "_cancelled",
        "_clock",
        "_config",
        "_delay",
        "_hedge_wins",
        "_hedges",
        "_in_flight",
        "_latencies",
        "_now",
        "_on_hedge",
        "_segment",
        "_sweep",
        "_sweeps",
        "_timer_sleep",
    )

    def __init__(
        self,
        *,
        delay: float | timedelta,
        max_hedges: int = 1,
        percentile: float | None = None,
        window: int = 200,
        min_samples: int = 20,
        name: str = "hedge",
        on_hedge: Hook | None = None,
        clock: Clock | None = None,
    ) -> None:
        config = _HedgeOptions(
            delay=as_seconds(delay),
            max_hedges=max_hedges,
            percentile=percentile,
            window=window,
            min_samples=min_samples,
            name=name,
        )
        if on_hedge is not None and not callable(on_hedge):
            raise TypeError(
                f"Hedge(on_hedge=...) must be a function of the event, got {on_hedge!r}"
            )
        self._config = config
        self._delay = config.delay
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._now = self._clock.monotonic
        # The system clock's asleep is the loop's timer: use the timer itself, no task.
        system = isinstance(self._clock, SystemClock)
        self._timer_sleep = None if system else self._clock.asleep
        self._latencies = (
            None
            if config.percentile is None
            else Latencies(
                percentile=config.percentile,
                window=config.window,
                min_samples=config.min_samples,
                initial=config.delay,
            )
        )
        self._on_hedge = on_hedge
        self._segment: Segment | None = None
        # A fixed delay on the loop's own timer: one shared timer per loop (see sweep.py).
        self._sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweep] = (
            weakref.WeakKeyDictionary()
        )
        self._sweep: Sweep | None = None  # the last loop's, found without a lookup
        self._calls = 0
        self._hedges = 0
        self._hedge_wins = 0
        self._cancelled = 0
        self._in_flight = 0

    # ------------------------------------------------------------------ what it shows

    @property
    def name(self) -> str:
        """The hedge's name, in events and measurements."""
        return self._config.name

    @property
    def max_hedges(self) -> int:
        """The most attempts started besides the first."""
        return self._config.max_hedges

    @property
    def delay(self) -> float:
        """The wait before a hedge now, in seconds (with ``percentile``: as measured)."""
        latencies = self._latencies
        return self._delay if latencies is None else latencies.delay

    @property
    def timer_sleep(self) -> Callable[[float], Awaitable[None]] | None:
        """The clock's ``asleep`` the delay is waited with, or None for the loop's timer."""
        return self._timer_sleep

    @property
    def idle(self) -> bool:
        """No call is inside it."""
        return self._in_flight == 0

    def measurements(self) -> list[Measurement]:
        """One measurement: the delay, the calls in flight, calls, hedges, wins, cancels."""
        config = self._config
        basis = "fixed" if config.percentile is None else f"p{config.percentile:g}"
        share = self._hedges / self._calls if self._calls else 0.0
        return [
            Measurement(
                kind="hedge",
                name=config.name,
                state=(
                    f"delay {self.delay * 1000:.3g} ms ({basis}), {self._hedges} hedges in "
                    f"{self._calls} calls ({share:.1%}), {self._hedge_wins} won"
                ),
                gauges={"delay_seconds": self.delay, "in_flight": self._in_flight},
                totals={
                    "calls": self._calls,
                    "hedges": self._hedges,
                    "hedge_wins": self._hedge_wins,
                    "cancelled": self._cancelled,
                },
            )
        ]

    def __repr__(self) -> str:
        config = self._config
        shown = f"delay={config.delay:g}, max_hedges={config.max_hedges}"
        if config.percentile is not None:
            shown += f", percentile={config.percentile:g}"
        return f"Hedge({shown}, name={config.name!r})"

    # ------------------------------------------------------------ the strategy's parts

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Nothing to admit: the attempts are raced by :meth:`arun`."""

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Nothing to decide: the first success (or the last failure) goes on."""

    def refuse_sync(self, fn: object) -> NoReturn:
        """Raise the TypeError that a sync function gets."""
        raise TypeError(
            f"{self!r} cannot hedge the sync function {_named(fn)}: hedging races attempts "
            "and cancels the losers, which only coroutines allow (a thread cannot be "
            "stopped). Make it an async function, or leave the hedge out of its pipeline"
        )

    def run(self, inner: Callable[[], T], fn: Callable[..., Any] | None) -> NoReturn:
        """Refuse: a sync call cannot be hedged."""
        self.refuse_sync(fn)

    async def arun(self, inner: Callable[[], Awaitable[T]], fn: Callable[..., Any] | None) -> T:
        """Race ``inner`` against hedged runs of it; the first success."""
        return cast("T", await self._race(inner, (), {}, fn))

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate the async function ``fn``.

        Raises:
            TypeError: ``fn`` is not an async function.
        """
        require_callable(fn, f"@{self._shell_label()}")
        if inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"{self!r} cannot hedge the async generator function {_named(fn)}: a hedge "
                "races whole calls, and a generator's items come over many; hedge the "
                "call that fetches each item instead"
            )
        if not inspect.iscoroutinefunction(fn):
            self.refuse_sync(fn)
        afn = cast("Callable[..., Awaitable[Any]]", fn)
        race = self._race
        running_loop = asyncio.get_running_loop
        current_task = asyncio.current_task

        @functools.wraps(fn)
        async def hedged(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            if self._latencies is not None:
                return await race(afn, args, kwargs, fn)
            loop = running_loop()
            task = current_task(loop)
            if task is None:
                return await race(afn, args, kwargs, fn)  # raises, saying why
            # The fixed-delay path of _race, inline: one frame less on every call.
            sweep = self._sweep
            if sweep is None or sweep.loop is not loop:
                sweep = self._sweep_of(loop)
            self._calls += 1
            self._in_flight += 1
            try:
                return await Race(self, afn, args, kwargs, fn, loop, task).run(
                    self._delay, None, self._timer_sleep, sweep
                )
            finally:
                self._in_flight -= 1

        return cast("Callable[P, R]", hedged)

    def call(self, fn: Callable[..., Any], /, *args: object, **kwargs: object) -> NoReturn:
        """Refuse: a sync call cannot be hedged; use :meth:`acall`."""
        self.refuse_sync(fn)

    def _shell_label(self) -> str:
        return "Hedge(...)"

    # --------------------------------------------------------------------- the race

    async def _race(
        self,
        start: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fn: object,
    ) -> Any:  # noqa: ANN401 - the call's result
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError(f"{self!r} runs in an asyncio task; await it from one")
        race = Race(self, start, args, kwargs, fn, loop, task)
        self._calls += 1
        self._in_flight += 1
        try:
            latencies = self._latencies
            if latencies is None:
                sweep = self._sweep
                if sweep is None or sweep.loop is not loop:
                    sweep = self._sweep_of(loop)
                return await race.run(self._delay, None, self._timer_sleep, sweep)
            return await race.run(latencies.delay, self._now(), self._timer_sleep)
        finally:
            self._in_flight -= 1

    def _sweep_of(self, loop: asyncio.AbstractEventLoop) -> Sweep | None:
        """The shared timer of ``loop`` (None on an injected clock: a timer task each)."""
        if self._timer_sleep is not None:
            return None
        sweep = self._sweeps.get(loop)
        if sweep is None:
            sweep = self._sweeps[loop] = Sweep(loop, self._delay)
        self._sweep = sweep
        return sweep

    def now(self) -> float:
        """The clock's time, when latencies are measured (else 0.0: nothing reads it)."""
        return 0.0 if self._latencies is None else self._now()

    def fired(self, race: Race, attempt: int) -> float:
        """A hedged attempt started: count and report it; the delay before the next."""
        self._hedges += 1
        if self._on_hedge is not None or _debug():
            first = race.started  # None with a fixed delay: each hedge one delay later
            after = self._delay * (attempt - 1) if first is None else self._now() - first
            self._report(HedgeStarted(self.name, attempt, after, _named(race.fn)))
        return self.delay

    def settled(self, race: Race, attempt: int) -> None:
        """The call has its outcome: attempt ``attempt`` won (0: every attempt failed)."""
        latencies = self._latencies
        first = race.started
        if latencies is not None and first is not None and attempt:
            now = self._now()
            started = first if attempt == 1 else race.starts[attempt - 2]
            latencies.record(now - started)
            if attempt > 1:  # the first attempt lost: it ran at least this long
                latencies.record(now - first)
            for task, begun in zip(race.tasks, race.starts, strict=True):
                if not task.done():
                    latencies.record(now - begun)
        if attempt > 1:
            self._hedge_wins += 1
            if self._on_hedge is not None or _debug():
                losing = sum(not t.done() for t in race.tasks) + race.requested
                self._report(HedgeWon(self.name, attempt, losing, _named(race.fn)))

    def cancelled(self, race: Race, count: int) -> None:
        """``count`` hedged attempts lost and were cancelled."""
        self._cancelled += count

    def _report(self, event: HedgeStarted | HedgeWon) -> None:
        log_event(event)
        if self._on_hedge is not None:
            emit((self._on_hedge,), event)


def _debug() -> bool:
    return logger.isEnabledFor(logging.DEBUG)
