"""The latencies a hedge measures, and the percentile of them it waits before hedging."""

from __future__ import annotations

import math

__all__ = ["Latencies"]


class Latencies:
    """The last ``window`` latencies, and their ``percentile``-th (nearest rank).

    The percentile is recomputed every ``window // 8`` new latencies (a sort of the
    window), not on every call. Until ``min_samples`` are in, :attr:`delay` is ``initial``.
    A cancelled attempt is recorded with the time it had run: a lower bound, and above
    the delay it waited, which is all a percentile needs to know of it.
    """

    __slots__ = ("_count", "_delay", "_fresh", "_min", "_next", "_rank", "_refresh", "_samples")

    def __init__(self, *, percentile: float, window: int, min_samples: int, initial: float) -> None:
        self._samples = [0.0] * window
        self._next = 0
        self._count = 0
        self._fresh = 0
        self._refresh = max(1, window // 8)
        self._min = min_samples
        self._rank = percentile / 100.0
        self._delay = initial

    @property
    def delay(self) -> float:
        """The current percentile, in seconds (``initial`` until enough are measured)."""
        return self._delay

    @property
    def count(self) -> int:
        """How many latencies the window holds."""
        return self._count

    def record(self, seconds: float) -> None:
        """Add one latency, dropping the oldest once the window is full."""
        samples = self._samples
        samples[self._next] = seconds
        self._next = (self._next + 1) % len(samples)
        if self._count < len(samples):
            self._count += 1
        self._fresh += 1
        if self._count >= self._min and (self._fresh >= self._refresh or self._count == self._min):
            self._fresh = 0
            ordered = sorted(samples[: self._count])
            self._delay = ordered[max(0, math.ceil(self._rank * len(ordered)) - 1)]
