"""The bulkhead: at most ``max_concurrent`` calls at once, and a bounded queue.

A call takes a slot in ``before`` (a thread) or ``abefore`` (a task) and gives it back
in ``after``; when none is free it waits in a FIFO queue of at most ``max_queue``, for at
most ``queue_timeout``, and is refused with :class:`BulkheadFullError` when the queue is
full (at once) or its wait ran out. Cancelling a queued or running call frees its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.errors import RejectedError
from resilience._core.events import emit
from resilience._core.measure import Measurement
from resilience._core.names import check_name_length
from resilience._core.options import Options, Seconds
from resilience._core.shells import Shell
from resilience._limit.events import BulkheadRejected, Listener
from resilience._limit.slots import ADMITTED, AsyncWaiter, Slots, SyncWaiter, Waiter

__all__ = ["Bulkhead", "BulkheadConfig", "BulkheadFullError"]

_W = TypeVar("_W", bound=Waiter)


class BulkheadConfig(Options):
    """How many calls a :class:`Bulkhead` runs at once, and how many wait for a slot."""

    max_concurrent: int = Field(default=10, ge=1)
    """Calls at once."""
    max_queue: int = Field(default=0, ge=0)
    """Calls that may wait for a slot (0: none; a call is refused when no slot is free)."""
    queue_timeout: Seconds = Field(default=1.0, gt=0, allow_inf_nan=False)
    """The longest a queued call waits for a slot, in seconds (or a timedelta)."""


class BulkheadFullError(RejectedError):
    """A bulkhead refused a call: no slot free and no queue place, or the wait ran out.

    Attributes:
        name: The bulkhead's name.
        in_use: Calls holding a slot when the call was refused.
        queued: Calls waiting when it was refused.
        waited: Seconds the call waited in the queue; None when refused at once.
    """

    noun = "free slot"

    def __init__(
        self,
        *,
        name: str,
        in_use: int,
        queued: int,
        max_concurrent: int,
        max_queue: int,
        waited: float | None,
    ) -> None:
        self.name = name
        self.in_use = in_use
        self.queued = queued
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.waited = waited
        counts = f"{in_use} of {max_concurrent} in use, {queued} of {max_queue} queued"
        if waited is None:
            what = f"bulkhead {name!r} is full ({counts}): the call was refused at once"
        else:
            what = (
                f"bulkhead {name!r} had no free slot for the call within its queue_timeout "
                f"(it waited {waited:.3g} s; {counts})"
            )
        super().__init__(
            f"{what}. The remote behind it is slow or busy: retry later, or raise "
            "max_concurrent / max_queue if it can take more"
        )

    @property
    def subject(self) -> str:
        """``"bulkhead 'db' is full"``."""
        return f"bulkhead {self.name!r} is full"


class Bulkhead(Shell):
    """At most ``max_concurrent`` calls at once; up to ``max_queue`` more wait their turn.

    Sync calls wait on a lock, async ones on a future of their loop, never blocking it;
    both share the same slots. Usable alone (a decorator, ``call``/``acall``, ``with`` /
    ``async with``), in a :class:`~resilience.Pipeline`, through ``resilient(bulkhead=)``
    and per remote through :class:`~resilience.Remotes`.

    Args:
        name: What it guards, in errors, events and metrics.
        config: The limits; or give its fields as keywords (not both).
        max_concurrent: Calls at once (10).
        max_queue: Calls that may wait for a slot (0).
        queue_timeout: The longest a queued call waits, in seconds or a timedelta (1 s).
        clock: Measures waits for events and errors.
        listeners: Called with each :class:`BulkheadRejected`.
    """

    __slots__ = ("_clock", "_config", "_listeners", "_name", "_segment", "_slots", "_timeout")

    def __init__(
        self,
        name: str,
        config: BulkheadConfig | None = None,
        *,
        max_concurrent: int | None = None,
        max_queue: int | None = None,
        queue_timeout: float | timedelta | None = None,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Bulkhead name must be a non-empty str, got {name!r}")
        check_name_length(name, "Bulkhead name")
        given: dict[str, Any] = {
            key: value
            for key, value in (
                ("max_concurrent", max_concurrent),
                ("max_queue", max_queue),
                ("queue_timeout", queue_timeout),
            )
            if value is not None
        }
        if config is None:
            config = BulkheadConfig(**given)
        elif not isinstance(config, BulkheadConfig):
            raise TypeError(
                f"Bulkhead config must be a BulkheadConfig, got {type(config).__name__}: "
                "build one with BulkheadConfig(...), or pass max_concurrent=... alone"
            )
        elif given:
            raise TypeError(
                f"Bulkhead takes a config or its fields ({', '.join(given)}), not both: "
                "use config.model_copy(update={...}) to change a config"
            )
        self._name = name
        self._config = config
        self._timeout = config.queue_timeout
        self._slots = Slots(config.max_concurrent, config.max_queue)
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._listeners: tuple[Listener, ...] = tuple(listeners)
        for listener in self._listeners:
            if not callable(listener):
                raise TypeError(f"a listener must be callable, got {listener!r}")
        self._segment: Segment | None = None

    @property
    def name(self) -> str:
        """What it guards."""
        return self._name

    @property
    def config(self) -> BulkheadConfig:
        """Its limits."""
        return self._config

    @property
    def in_use(self) -> int:
        """Calls holding a slot now."""
        return self._slots.in_use

    @property
    def queued(self) -> int:
        """Calls waiting for a slot now."""
        return self._slots.queued

    @property
    def idle(self) -> bool:
        """True when no call holds a slot or waits: a registry may drop it."""
        return self._slots.in_use == 0 and self._slots.queued == 0

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event to ``listener`` too."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {listener!r}")
        self._listeners = (*self._listeners, listener)

    def __repr__(self) -> str:
        c = self._config
        return (
            f"Bulkhead({self._name!r}, max_concurrent={c.max_concurrent}, max_queue={c.max_queue})"
        )

    def _shell_label(self) -> str:
        return f"Bulkhead({self._name!r})"

    # ----------------------------------------------------------------- the strategy

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Take a slot, waiting in the queue (this thread blocks) if allowed and needed.

        Raises:
            BulkheadFullError: No slot and no queue place, or the wait ran out.
        """
        if not self._slots.try_enter():
            self._wait()

    async def abefore(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Take a slot, waiting in the queue (the task awaits) if allowed and needed.

        Raises:
            BulkheadFullError: No slot and no queue place, or the wait ran out.
        """
        if not self._slots.try_enter():
            await self._await()

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Give the slot back, whatever the outcome (a cancellation too)."""
        self._slots.release()

    def settle(self, token: object, error: BaseException | None) -> None:
        """Give the slot of a ``with`` block or a generator's iteration back."""
        self._slots.release()

    # ------------------------------------------------------------------ the waits

    def _queued(self, waiter: _W | None) -> _W | None:
        """``waiter`` once queued for a slot; None when one was free. Refuses when full."""
        entered = self._slots.enter(waiter)
        if entered == ADMITTED:
            return None
        if waiter is None or entered is not waiter:
            self._refuse(None)
        return waiter

    def _wait(self) -> None:
        slots = self._slots
        waiter = self._queued(SyncWaiter() if slots.max_queue else None)
        if waiter is None:
            return
        started = self._clock.monotonic()
        try:
            arrived = waiter.wait(self._timeout)
        except BaseException:  # interrupted: leave the queue, or pass the slot on
            if slots.gave_up(waiter, timed_out=False):
                slots.release()
            raise
        if not arrived and not slots.gave_up(waiter, timed_out=True):
            self._refuse(self._clock.monotonic() - started)

    async def _await(self) -> None:
        slots = self._slots
        waiter = self._queued(AsyncWaiter(asyncio.get_running_loop()) if slots.max_queue else None)
        if waiter is None:
            return
        started = self._clock.monotonic()
        limit = asyncio.timeout(self._timeout)
        try:
            async with limit:
                await waiter.future
        except TimeoutError:
            if not limit.expired():
                raise  # pragma: no cover - only our own limit can expire here
            if not slots.gave_up(waiter, timed_out=True):
                self._refuse(self._clock.monotonic() - started)
        except BaseException:  # cancelled: leave the queue, or pass the slot on
            if slots.gave_up(waiter, timed_out=False):
                slots.release()
            raise

    def _refuse(self, waited: float | None) -> NoReturn:
        in_use, queued = self._slots.in_use, self._slots.queued
        c = self._config
        if self._listeners:
            emit(
                self._listeners,
                BulkheadRejected(self._name, in_use, queued, c.max_concurrent, c.max_queue, waited),
            )
        raise BulkheadFullError(
            name=self._name,
            in_use=in_use,
            queued=queued,
            max_concurrent=c.max_concurrent,
            max_queue=c.max_queue,
            waited=waited,
        )

    # ---------------------------------------------------------------- measurements

    def measurements(self) -> list[Measurement]:
        """Slots in use and queued, the limits, and calls admitted or turned away."""
        in_use, queued, admitted, rejected, timed_out, cancelled = self._slots.counts()
        c = self._config
        full = in_use >= c.max_concurrent and queued >= c.max_queue
        state = f"{in_use} of {c.max_concurrent} in use"
        if c.max_queue:
            state += f", {queued} of {c.max_queue} queued"
        return [
            Measurement(
                kind="bulkhead",
                name=self._name,
                state=state + (": full" if full else ""),
                gauges={
                    "in_use": in_use,
                    "queued": queued,
                    "max_concurrent": c.max_concurrent,
                    "max_queue": c.max_queue,
                },
                totals={
                    "admitted": admitted,
                    "rejected": rejected,
                    "timed_out": timed_out,
                    "cancelled": cancelled,
                },
                healthy=not full,
            )
        ]
