"""One hedged call: the first attempt awaited in the caller's task, the hedges in tasks.

The first attempt runs as a plain ``await`` in the caller's own task (a call that answers
before the delay costs a timer and nothing more). If it has not answered when the delay
expires, a hedged attempt starts in a task of its own, and another after each further
delay, up to ``max_hedges``. The first success wins: when it is a hedge's, the caller's
task is cancelled to stop the first attempt, as ``asyncio.timeout`` does (the request is
counted with ``Task.uncancel``, so a cancellation from outside is never swallowed), and
every attempt still running is cancelled and awaited. A failure never starts a hedge:
the call fails once every attempt started has failed (the last failure is raised), and a
retry outside decides what follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from resilience._hedge.sweep import Sweep

__all__ = ["Owner", "Race"]

_NO_KWARGS: dict[str, Any] = {}  # never written to: what a finished call's kwargs become


class Owner(Protocol):
    """What a race asks of the hedge that runs it: its timer, and where to count."""

    @property
    def timer_sleep(self) -> Callable[[float], Awaitable[None]] | None:
        """The clock's ``asleep`` to wait the delay with, or None for the loop's timer."""
        ...

    @property
    def max_hedges(self) -> int:
        """The most attempts started besides the first."""
        ...

    def now(self) -> float:
        """The clock's time (0.0 when nothing measures latencies)."""
        ...

    def fired(self, race: Race, attempt: int) -> float:
        """A hedged attempt started; the delay before the next."""
        ...

    def settled(self, race: Race, attempt: int) -> None:
        """The call has its outcome: attempt ``attempt`` won (0: every attempt failed)."""
        ...

    def cancelled(self, race: Race, count: int) -> None:
        """``count`` attempts lost and were cancelled."""
        ...


class _Later:
    """What only a hedged call needs, as class defaults until then (see :class:`Race`)."""

    handle: asyncio.TimerHandle | None = None
    timer: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[Any]] | tuple[()] = ()
    starts: list[float] | tuple[()] = ()
    primary = True  # the first attempt is still running
    requested = False  # we cancelled the caller's task to stop the first attempt
    value: object = None
    error: BaseException | None = None
    verdict: asyncio.Future[None] | None = None
    started: float | None = None  # when the first attempt started, if latencies are measured


class Race(_Later):
    """The state of one hedged call (see the module's docstring).

    What every call needs is slotted; the rest is set only when it changes (the
    instance's ``__dict__`` is made then), so that a call answered in time costs eight
    slot writes.
    """

    __slots__ = (
        "args",
        "cancelling",
        "deadline",
        "fn",
        "hedge",
        "kwargs",
        "loop",
        "start",
        "task",
        "won",
    )

    deadline: float  # when the first delay expires, on the loop's clock (set by a Sweep)

    def __init__(  # noqa: PLR0917 - built once per call, by the hedge only
        self,
        hedge: Owner,
        start: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fn: object,
        loop: asyncio.AbstractEventLoop,
        task: asyncio.Task[Any],
    ) -> None:
        self.hedge = hedge
        self.start = start
        self.args = args
        self.kwargs = kwargs
        self.fn = fn
        self.loop = loop
        self.task = task
        self.cancelling = task.cancelling()
        self.won = 0  # the attempt that answered first: 1 the first, 0 none yet, -1 abandoned

    async def run(
        self,
        delay: float,
        started: float | None,
        asleep: Callable[[float], Awaitable[None]] | None,
        sweep: Sweep | None = None,
    ) -> Any:  # noqa: ANN401 - the call's result
        """Await the first attempt, hedging it after ``delay``; the first success.

        ``started``: when the call started, if the hedge measures latencies. ``asleep``:
        the clock's, to wait the delay with, or None for the loop's timer. ``sweep``: the
        loop's shared timer of a fixed-delay hedge, instead of a timer of this call's.
        """
        if started is not None:
            self.started = started
        if sweep is not None:
            sweep.add(self)
        elif asleep is None:
            self.handle = self.loop.call_later(delay, self.fire)
        else:
            self.timer = self.loop.create_task(self.wait(asleep, delay))
        try:
            value = await self.start(*self.args, **self.kwargs)
        except asyncio.CancelledError:
            self.primary = False
            if self.requested and self.task.uncancel() <= self.cancelling:
                return await self.answer()  # a hedge won: ours was the only cancellation
            await self.abandon()
            raise
        except BaseException as exc:
            self.primary = False
            if self.requested:  # a hedge won; the first attempt ignored its cancellation
                self.task.uncancel()
                return await self.answer()
            if not isinstance(exc, Exception) or not self.running():
                await self.abandon()
                raise
            self.error = exc
            return await self.others()
        self.primary = False
        if self.requested:
            self.task.uncancel()
            return await self.answer()
        self.won = 1
        # A sweep keeps the entry until its deadline: let go of the caller's arguments.
        self.args = ()
        self.kwargs = _NO_KWARGS
        handle = self.handle
        if handle is not None:
            handle.cancel()
        if self.timer is not None or self.tasks or started is not None:
            self.disarm()
            self.hedge.settled(self, 1)
            await self.cancel_all()
        return value

    def arm(self, delay: float) -> None:
        """Start the next hedge after ``delay``, on the loop's timer or the hedge's clock."""
        asleep = self.hedge.timer_sleep
        if asleep is None:
            self.handle = self.loop.call_later(delay, self.fire)
        else:
            self.timer = self.loop.create_task(self.wait(asleep, delay))

    async def wait(self, asleep: Callable[[float], Awaitable[None]], delay: float) -> None:
        """The timer on an injected clock."""
        await asleep(delay)
        self.timer = None
        self.fire()

    def disarm(self) -> None:
        """Start no more hedges."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def fire(self) -> None:
        """The delay expired without an answer: start a hedged attempt."""
        self.handle = None
        if self.won or (self.error is not None and not self.running()):
            return
        # In a coroutine of its own: what start() raises or returns is the task's outcome.
        task = self.loop.create_task(_attempt(self.start, self.args, self.kwargs))
        if not self.tasks:
            self.tasks = []
            self.starts = []
        self.tasks.append(task)
        cast("list[float]", self.starts).append(self.hedge.now())
        task.add_done_callback(self.finished)
        attempt = len(self.tasks) + 1
        delay = self.hedge.fired(self, attempt)
        if len(self.tasks) < self.hedge.max_hedges:
            self.arm(delay)

    def running(self) -> bool:
        """Whether an attempt is still running."""
        return self.primary or any(not t.done() for t in self.tasks)

    def finished(self, task: asyncio.Task[Any]) -> None:
        """A hedged attempt ended: a win, or one failure more."""
        if task.cancelled():
            return
        error = task.exception()  # retrieved, so that asyncio never reports it
        if self.won:
            return
        if error is None:
            self.won = self.tasks.index(task) + 2
            self.value = task.result()
            self.disarm()
            if self.primary:
                self.requested = True
                self.task.cancel()
            elif self.verdict is not None and not self.verdict.done():
                self.verdict.set_result(None)
            return
        self.error = error
        if not self.running():
            self.disarm()
            if self.verdict is not None and not self.verdict.done():
                self.verdict.set_result(None)

    async def others(self) -> Any:  # noqa: ANN401 - the call's result
        """The first attempt failed while hedges run: the first of theirs to succeed."""
        self.verdict = self.loop.create_future()
        try:
            await self.verdict
        except asyncio.CancelledError:
            await self.abandon()
            raise
        if self.won:
            return await self.answer()
        self.hedge.settled(self, 0)
        error = self.error
        self.error = None
        self.won = -1  # over: a timer that still comes (a sweep's) starts nothing
        try:
            raise error  # type: ignore[misc] # every attempt failed: the last failure
        finally:
            del error

    async def answer(self) -> Any:  # noqa: ANN401 - the call's result
        """A hedged attempt won: cancel and await the rest; its value."""
        self.hedge.settled(self, self.won)
        if self.requested:  # the first attempt was cancelled for the winner
            self.hedge.cancelled(self, 1)
        await self.cancel_all()
        value = self.value
        self.value = None
        return value

    async def cancel_all(self) -> None:
        """Cancel every hedged attempt still running, and await them."""
        losers = [t for t in self.tasks if not t.done()]
        for task in losers:
            task.cancel()
        if losers:
            self.hedge.cancelled(self, len(losers))
            await asyncio.wait(losers)

    async def abandon(self) -> None:
        """The call ends without a winner (cancelled, or a fatal error): stop everything."""
        self.disarm()
        self.won = self.won or -1
        await self.cancel_all()


async def _attempt(
    start: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:  # noqa: ANN401 - the call's result
    """One hedged attempt, as a task runs it."""
    return await start(*args, **kwargs)
