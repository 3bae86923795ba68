"""Helpers for testing code that uses ``resilience``: a hand-moved clock, no retry waits."""

from __future__ import annotations

import asyncio
import threading

from resilience._retry.testing import set_testing

__all__ = ["FakeClock", "set_testing"]


class FakeClock:
    """A :class:`~resilience.Clock` whose time moves only when told to.

    ``sleep`` and ``asleep`` advance the clock instantly instead of waiting, so code
    that backs off for minutes runs in microseconds and deterministically.

    Args:
        start: The initial reading of :meth:`monotonic`.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """The current fake time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``.

        Raises:
            ValueError: If ``seconds`` is negative: time can't go backwards.
        """
        if seconds < 0:
            raise ValueError(f"time can't go backwards: advance({seconds!r})")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` at once (negative waits count as zero)."""
        if seconds > 0:
            self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` at once, then let other tasks run."""
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(start={self._now!r})"
