"""Retry budgets: retries may be at most a share of calls, so an outage cannot multiply load."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.options import Options
from resilience._core.window import TimeWindow

__all__ = ["BudgetSnapshot", "RetryBudget"]


class _BudgetConfig(Options):
    ratio: float = Field(default=0.2, ge=0, le=1)
    min_per_second: float = Field(default=10.0, ge=0)
    window: float = Field(default=10.0, gt=0)


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """A reading of a retry budget over its window."""

    calls: int
    retries: int
    allowed: float
    """Retries the window allows: ``ratio * calls + min_per_second * window``."""
    rejected: int = 0
    """Retries refused since the budget was made (this process's, for a shared one)."""


class RetryBudget:
    """Allows retries up to ``ratio`` of calls, plus a floor, over a sliding window.

    Share one budget between the policies that call the same remote: when the remote
    is down, the first attempts keep flowing (and the breaker can see them) but the
    retries, which would multiply the load, stop at about ``ratio`` of the calls.
    This is the rule of Finagle and Envoy; botocore and gRPC have cousins of it.

    Args:
        ratio: Retries allowed per call, in [0, 1].
        min_per_second: Retries always allowed per second of window, so that a quiet
            service can still retry.
        window: Seconds over which calls and retries are counted.
        clock: Time source.
    """

    __slots__ = ("_clock", "_floor", "_lock", "_ratio", "_rejected", "_window", "config")

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.config = config = _BudgetConfig(
            ratio=ratio, min_per_second=min_per_second, window=window
        )
        self._ratio = config.ratio
        self._floor = config.min_per_second * config.window
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._rejected = 0
        # The breaker's time window, reused: an entry flagged "failed" is a retry, the
        # others are calls. It moves in tenths of the window.
        self._window = TimeWindow(config.window, buckets=10)

    def record_call(self) -> None:
        """Count one call (a first attempt) towards the budget."""
        lock = self._lock
        lock.acquire()  # not `with`: half the cost on CPython 3.11, on every call
        try:
            self._window.record(self._clock.monotonic(), failed=False, slow=False)
        finally:
            lock.release()

    def try_retry(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) if it is spent."""
        with self._lock:
            window = self._window
            window.expire(self._clock.monotonic())
            retries = window.failures
            if retries + 1 > self._ratio * (window.calls - retries) + self._floor:
                self._rejected += 1
                return False
            window.record(self._clock.monotonic(), failed=True, slow=False)
            return True

    def snapshot(self) -> BudgetSnapshot:
        """Calls and retries in the window, and the retries it allows."""
        with self._lock:
            window = self._window
            window.expire(self._clock.monotonic())
            calls = window.calls - window.failures
            allowed = self._ratio * calls + self._floor
            return BudgetSnapshot(calls, window.failures, allowed, self._rejected)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"RetryBudget(ratio={c.ratio}, min_per_second={c.min_per_second}, "
            f"window={c.window})"
        )
