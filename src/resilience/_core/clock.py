"""Time: the clock protocol and the system clock, the only code that reads real time."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "wall_time"]


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time that can also wait.

    Every time-dependent object in ``resilience`` takes ``clock=``; tests pass a
    :class:`resilience.testing.FakeClock` so that nothing sleeps for real.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.sleep` and :func:`asyncio.sleep`."""

    __slots__ = ()

    # Bound straight to the C functions: the breaker's hot path calls these.
    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


def wall_time() -> float:
    """Seconds since the epoch, for converting HTTP dates into delays."""
    return time.time()
