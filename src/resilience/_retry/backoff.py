"""Backoff: exponential waits between attempts, capped, with jitter."""

from __future__ import annotations

from random import random
from typing import Final, Literal

from pydantic import Field

from resilience._core.options import Options, Seconds

__all__ = ["SCHEDULE", "Backoff", "jittered"]

SCHEDULE: Final = 32
"""Waits precomputed per policy: a retry reads a tuple instead of computing a power
(later retries, only reachable with a tenacity stop, compute theirs)."""


class Backoff(Options):
    """Exponential backoff: ``initial * multiplier ** (retry - 1)``, capped at ``max``.

    With ``jitter="full"`` (the default) the wait is drawn uniformly from zero to that
    value, which spreads out clients that failed together; ``"equal"`` keeps at least
    half of it; ``"none"`` waits exactly that. Durations are seconds or ``timedelta``.
    """

    initial: Seconds = Field(default=0.1, ge=0)
    """Seconds before the first retry (before jitter)."""
    multiplier: float = Field(default=2.0, ge=1)
    max: Seconds = Field(default=10.0, ge=0)
    """The cap on any one wait, in seconds (before jitter)."""
    jitter: Literal["full", "equal", "none"] = "full"

    def base(self, retry: int) -> float:
        """The capped wait before retry number ``retry``, before jitter."""
        try:
            return min(self.max, self.initial * self.multiplier ** (retry - 1))
        except OverflowError:
            return self.max

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the wait after the first attempt)."""
        return jittered(self.base(retry), self.jitter)

    def schedule(self) -> tuple[float, ...]:
        """The capped waits before the first :data:`SCHEDULE` retries, before jitter."""
        return tuple(self.base(n) for n in range(1, SCHEDULE + 1))


def jittered(base: float, jitter: str) -> float:
    """``base`` with the jitter applied."""
    if jitter == "full":
        return random() * base
    if jitter == "equal":
        return base / 2 + random() * base / 2
    return base
