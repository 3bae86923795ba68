"""The chaos strategies: a fault, a delay or a substituted result, at a rate, when switched on.

Each rolls its own seeded :class:`random.Random` once per call while its switch is on
(never while it is off, so a seed replays the same injections for the same calls).
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.events import emit
from resilience._core.log import log_event
from resilience._core.measure import Measurement
from resilience._core.options import Options, Seconds
from resilience._core.options import seconds as as_seconds
from resilience._core.shapes import decorate
from resilience._core.shells import Shell, require_callable
from resilience._core.text import safe_repr
from resilience.chaos._events import ChaosInjected
from resilience.chaos._switch import ChaosSwitch

__all__ = ["InjectFault", "InjectLatency", "InjectResult"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

Hook = Callable[[ChaosInjected], object]
SwitchLike = ChaosSwitch | Callable[[], bool] | bool | None


class _ChaosOptions(Options):
    name: str = Field(min_length=1, max_length=200)
    rate: float = Field(ge=0.0, le=1.0)
    seed: int | None = None


class _LatencyOptions(Options):
    latency: Seconds = Field(gt=0)


def _switch(switch: SwitchLike, name: str) -> ChaosSwitch:
    if isinstance(switch, ChaosSwitch):
        return switch
    if switch is None or isinstance(switch, bool):
        return ChaosSwitch(name, enabled=bool(switch))
    if callable(switch):
        return ChaosSwitch(name, when=switch)
    raise TypeError(
        f"switch must be a ChaosSwitch, a function returning a bool, or a bool; got {switch!r}"
    )


def _named(fn: object) -> str:
    return safe_repr(getattr(fn, "__qualname__", fn), limit=200)


class _Chaos(Shell):
    """What the chaos strategies share: the switch, the rate, the dice and the counts."""

    __slots__ = (
        "_clock",
        "_injected",
        "_name",
        "_on_inject",
        "_random",
        "_rate",
        "_rolled",
        "_segment",
        "_switch",
    )

    kind: ClassVar[str] = "fault"

    def __init__(
        self,
        *,
        rate: float,
        switch: SwitchLike,
        seed: int | None,
        name: str,
        on_inject: Hook | None,
        clock: Clock | None,
    ) -> None:
        config = _ChaosOptions(name=name, rate=rate, seed=seed)
        if on_inject is not None and not callable(on_inject):
            raise TypeError(f"on_inject must be a function of the event, got {on_inject!r}")
        self._name = config.name
        self._rate = config.rate
        self._random = random.Random(config.seed).random
        self._switch = _switch(switch, config.name)
        self._on_inject = on_inject
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._segment: Segment | None = None
        self._rolled = 0
        self._injected = 0

    @property
    def name(self) -> str:
        """The strategy's name, in events and measurements."""
        return self._name

    @property
    def rate(self) -> float:
        """The share of calls injected into while switched on, 0 to 1."""
        return self._rate

    @property
    def switch(self) -> ChaosSwitch:
        """The switch that turns it on and off."""
        return self._switch

    @property
    def injected(self) -> int:
        """How many calls it injected into."""
        return self._injected

    @property
    def rolled(self) -> int:
        """How many calls it considered while switched on."""
        return self._rolled

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``; while the switch is off, a call costs one check of it."""
        require_callable(fn, f"@{self._shell_label()}")
        engine = decorate(self._shell(), fn)
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            return cast("Callable[P, R]", engine)
        switch = self._switch
        if inspect.iscoroutinefunction(fn):
            afn = cast("Callable[..., Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def achaos(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
                if switch.enabled:
                    return await engine(*args, **kwargs)
                return await afn(*args, **kwargs)

            return cast("Callable[P, R]", achaos)

        @functools.wraps(fn)
        def chaos(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            if switch.enabled:
                return engine(*args, **kwargs)
            return fn(*args, **kwargs)

        return cast("Callable[P, R]", chaos)

    def measurements(self) -> list[Measurement]:
        """One measurement: on or off, the rate, the calls considered and injected into."""
        on = self._switch.enabled
        state = f"on: {self.kind} in {self._rate:.0%} of calls" if on else "off"
        return [
            Measurement(
                kind="chaos",
                name=self._name,
                state=state,
                gauges={"enabled": float(on), "rate": self._rate},
                totals={"rolled": self._rolled, "injected": self._injected},
                healthy=not on,
            )
        ]

    def _fires(self) -> bool:
        """Whether to inject into this call: switched on, and the dice say so."""
        if not self._switch.enabled:
            return False
        self._rolled += 1
        if self._random() >= self._rate:
            return False
        self._injected += 1
        return True

    def _report(self, what: str, fn: object) -> None:
        event = ChaosInjected(self._name, self.kind, what, _named(fn))
        log_event(event)
        if self._on_inject is not None:
            emit((self._on_inject,), event)

    def _fields(self) -> str:
        return f"rate={self._rate:g}, name={self._name!r}, switch={self._switch!r}"


class InjectFault(_Chaos):
    """Raise ``error`` instead of making the call, in ``rate`` of calls while switched on.

    The fault is raised where the call would be, so the strategies outside it (a retry,
    a breaker) see it as the call's own failure: put it innermost in a pipeline.

    Args:
        error: An exception type (raised as ``error("injected by chaos")``), a function
            returning an exception, or an exception instance (raised afresh each time).
        rate: The share of calls that fail, 0 to 1.
        switch: A :class:`ChaosSwitch` (shared by several strategies), a function
            returning whether it is on, or a bool; off by default.
        seed: Seeds the dice, for injections a test can replay.
        name: In events and measurements.
        on_inject: Called with a :class:`ChaosInjected` each time it injects.
    """

    __slots__ = ("_error",)

    kind = "fault"

    def __init__(
        self,
        error: type[BaseException] | Callable[[], BaseException] | BaseException,
        *,
        rate: float,
        switch: SwitchLike = None,
        seed: int | None = None,
        name: str = "chaos",
        on_inject: Hook | None = None,
    ) -> None:
        if not (isinstance(error, BaseException) or callable(error)):
            raise TypeError(
                "InjectFault(error=...) must be an exception type, an exception, or a "
                f"function returning one; got {error!r}"
            )
        super().__init__(
            rate=rate, switch=switch, seed=seed, name=name, on_inject=on_inject, clock=None
        )
        self._error = error

    def __repr__(self) -> str:
        return f"InjectFault({safe_repr(self._error, limit=80)}, {self._fields()})"

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise the fault instead of the call, when the dice say so."""
        if self._fires():
            error = self._fault()
            self._report(type(error).__name__, fn)
            raise error

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Nothing to decide: the outcome goes on."""

    def _fault(self) -> BaseException:
        error = self._error
        if isinstance(error, BaseException):
            return error.with_traceback(None)  # raised again: no traceback piles up
        if isinstance(error, type):
            made: object = error("injected by chaos")
            return cast("BaseException", made)
        made = cast("Callable[[], object]", error)()
        if not isinstance(made, BaseException):
            return TypeError(
                f"InjectFault's error function {safe_repr(error, limit=80)} returned "
                f"{safe_repr(made, limit=80)}, not an exception; return the exception to raise"
            )
        return made


class InjectLatency(_Chaos):
    """Wait ``latency`` seconds on the clock before the call, in ``rate`` of calls.

    A :class:`~resilience.testing.FakeClock` makes the wait instant (and moves its time);
    a :class:`~resilience.Timeout` outside it cancels an async wait at its limit.

    Args:
        latency: The wait, in seconds or as a ``timedelta``.
        rate: The share of calls delayed, 0 to 1.
        switch: See :class:`InjectFault`.
        seed: Seeds the dice.
        name: In events and measurements.
        on_inject: Called with a :class:`ChaosInjected` each time it injects.
        clock: Waits the latency: ``clock.sleep`` for a sync call, ``clock.asleep``.
    """

    __slots__ = ("_latency",)

    kind = "latency"

    def __init__(
        self,
        latency: float | timedelta,
        *,
        rate: float,
        switch: SwitchLike = None,
        seed: int | None = None,
        name: str = "chaos",
        on_inject: Hook | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._latency = _LatencyOptions(latency=as_seconds(latency)).latency
        super().__init__(
            rate=rate, switch=switch, seed=seed, name=name, on_inject=on_inject, clock=clock
        )

    @property
    def latency(self) -> float:
        """The injected wait, in seconds."""
        return self._latency

    def __repr__(self) -> str:
        return f"InjectLatency({self._latency:g}, {self._fields()})"

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Nothing to admit: the wait is made by :meth:`run` / :meth:`arun`."""

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Nothing to decide: the outcome goes on."""

    def run(self, inner: Callable[[], T], fn: Callable[..., Any] | None) -> T:
        """Sleep the latency first, when the dice say so; then the call."""
        if self._fires():
            self._report(f"{self._latency:g} s", fn)
            self._clock.sleep(self._latency)
        return inner()

    async def arun(self, inner: Callable[[], Awaitable[T]], fn: Callable[..., Any] | None) -> T:
        """Await the latency first, when the dice say so; then the call."""
        if self._fires():
            self._report(f"{self._latency:g} s", fn)
            await self._clock.asleep(self._latency)
        return await inner()


class InjectResult(_Chaos):
    """Return ``result`` instead of making the call, in ``rate`` of calls while switched on.

    For rehearsing what a caller does with a bad answer: an empty list, a stale record,
    a response with status 503.

    Args:
        result: What the call returns instead (the same object each time), or, with
            ``factory=True``, a function of no arguments that makes it.
        rate: The share of calls answered so, 0 to 1.
        factory: ``result`` is a function to call for each substituted result.
        switch: See :class:`InjectFault`.
        seed: Seeds the dice.
        name: In events and measurements.
        on_inject: Called with a :class:`ChaosInjected` each time it injects.
    """

    __slots__ = ("_factory", "_result")

    kind = "result"

    def __init__(
        self,
        result: object,
        *,
        rate: float,
        factory: bool = False,
        switch: SwitchLike = None,
        seed: int | None = None,
        name: str = "chaos",
        on_inject: Hook | None = None,
    ) -> None:
        if factory and not callable(result):
            raise TypeError(
                f"InjectResult(factory=True) takes a function that makes the result, got {result!r}"
            )
        super().__init__(
            rate=rate, switch=switch, seed=seed, name=name, on_inject=on_inject, clock=None
        )
        self._result = result
        self._factory = factory

    def __repr__(self) -> str:
        return f"InjectResult({safe_repr(self._result, limit=80)}, {self._fields()})"

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Nothing to admit: the result is substituted by :meth:`run` / :meth:`arun`."""

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Nothing to decide: the outcome goes on."""

    def run(self, inner: Callable[[], T], fn: Callable[..., Any] | None) -> T:
        """The substituted result when the dice say so, else the call's."""
        if self._fires():
            return cast("T", self._substitute(fn))
        return inner()

    async def arun(self, inner: Callable[[], Awaitable[T]], fn: Callable[..., Any] | None) -> T:
        """The substituted result when the dice say so, else the awaited call's."""
        if self._fires():
            return cast("T", self._substitute(fn))
        return await inner()

    def _substitute(self, fn: object) -> object:
        result = cast("Callable[[], object]", self._result)() if self._factory else self._result
        self._report(safe_repr(result, limit=80), fn)
        return result
