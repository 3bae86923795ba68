"""Outcome windows: the last N calls, or the last T seconds (breakers' rates, retry budgets).

Both record in O(1) and keep running totals, so judging a rate never scans the window.
"""

from __future__ import annotations

import math

__all__ = ["CountWindow", "TimeWindow", "Window"]

# One byte per call in the count window: bit 0 "a call", bit 1 "failed", bit 2 "slow".
_CALL, _FAILED, _SLOW = 1, 2, 4
_MAX_BUCKETS = 300


class CountWindow:
    """The outcomes of the last ``size`` calls, one byte each in a ring."""

    __slots__ = ("_pos", "_ring", "calls", "failures", "slow")

    ages = False
    """Outcomes leave only when newer ones push them out."""

    def __init__(self, size: int) -> None:
        self._ring = bytearray(size)
        self._pos = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, now: float, failed: bool, slow: bool) -> None:
        """Add one outcome, dropping the oldest when the ring is full."""
        ring = self._ring
        pos = self._pos
        old = ring[pos]
        new = _CALL | failed << 1 | slow << 2
        ring[pos] = new
        pos += 1
        self._pos = pos if pos < len(ring) else 0
        # In a steady state the outcome replaced is usually the same as the new one,
        # and then no total changes.
        if old != new:
            if not old:
                self.calls += 1
            self.failures += failed - (old >> 1 & 1)
            self.slow += slow - (old >> 2 & 1)

    def expire(self, now: float) -> None:
        """Count windows do not age."""

    def clear(self) -> None:
        """Forget every outcome."""
        self._ring[:] = bytes(len(self._ring))
        self._pos = self.calls = self.failures = self.slow = 0

    def describe(self) -> str:
        """What the window spans, for messages."""
        return f"the last {self.calls} calls"


class TimeWindow:
    """The outcomes of the last ``seconds`` seconds, in buckets of about one second."""

    __slots__ = ("_buckets", "_counts", "_head", "_width", "calls", "failures", "slow")

    ages = True
    """Outcomes leave as time passes, which can raise a rate with no new failure."""

    def __init__(self, seconds: float, *, buckets: int | None = None) -> None:
        n = buckets or min(max(math.ceil(seconds), 1), _MAX_BUCKETS)
        self._buckets = n
        self._width = seconds / n
        self._head = 0  # index of the newest bucket on the clock's bucket scale
        # calls, failures, slow: three counters per bucket, flattened.
        self._counts = [0] * (3 * n)
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, now: float, failed: bool, slow: bool) -> None:
        """Add one outcome at time ``now``."""
        self.expire(now)
        i = 3 * (self._head % self._buckets)
        counts = self._counts
        counts[i] += 1
        counts[i + 1] += failed
        counts[i + 2] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def expire(self, now: float) -> None:
        """Drop the buckets that have fallen out of the window by ``now``."""
        head = int(now // self._width)
        if head <= self._head:
            return
        n, counts = self._buckets, self._counts
        # Each bucket is cleared at most once per pass: the work is bounded by the bucket count.
        for b in range(max(self._head + 1, head - n + 1), head + 1):
            i = 3 * (b % n)
            self.calls -= counts[i]
            self.failures -= counts[i + 1]
            self.slow -= counts[i + 2]
            counts[i] = counts[i + 1] = counts[i + 2] = 0
        self._head = head

    def clear(self) -> None:
        """Forget every outcome."""
        self._counts = [0] * (3 * self._buckets)
        self.calls = self.failures = self.slow = 0

    def describe(self) -> str:
        """What the window spans, for messages."""
        return f"the last {self._width * self._buckets:g} s ({self.calls} calls)"


Window = CountWindow | TimeWindow
