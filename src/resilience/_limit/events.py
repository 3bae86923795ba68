"""What bulkheads and adaptive limiters report: refusals, and a limit that moved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from resilience._core.events import DEBUG, INFO, Event

__all__ = ["BulkheadRejected", "LimitChanged", "LimiterEvent", "LimiterRejected", "Listener"]


@dataclass(frozen=True, slots=True)
class BulkheadRejected(Event):
    """A bulkhead refused a call: every slot and queue place taken, or its wait ran out."""

    name: str
    in_use: int
    queued: int
    max_concurrent: int
    max_queue: int
    waited: float | None
    """Seconds the call waited in the queue; None when it was refused at once."""

    event_name = "bulkhead.rejected"
    level = DEBUG  # one per refused call

    def describe(self) -> str:
        """``bulkhead 'db' rejected a call (10 of 10 in use, 5 of 5 queued)``."""
        why = "at once" if self.waited is None else f"after waiting {self.waited:.3g} s"
        return (
            f"bulkhead {self.name!r} rejected a call {why} ({self.in_use} of "
            f"{self.max_concurrent} in use, {self.queued} of {self.max_queue} queued)"
        )


@dataclass(frozen=True, slots=True)
class LimiterRejected(Event):
    """An adaptive limiter refused a call: as many in flight as its current limit."""

    name: str
    in_flight: int
    limit: int

    event_name = "limiter.rejected"
    level = DEBUG  # one per refused call

    def describe(self) -> str:
        """``limiter 'db' rejected a call (12 in flight, limit 12)``."""
        counts = f"{self.in_flight} in flight, limit {self.limit}"
        return f"limiter {self.name!r} rejected a call ({counts})"


@dataclass(frozen=True, slots=True)
class LimitChanged(Event):
    """An adaptive limiter's limit moved, as its algorithm decided from a sample."""

    name: str
    old: int
    new: int
    reason: str
    """What moved it: ``"latency held"``, ``"dropped"`` (a timeout or a rejection), ..."""

    event_name = "limiter.limit_changed"

    @property
    def level(self) -> int:
        """INFO when the limit shrinks (the remote is struggling), DEBUG when it grows."""
        return INFO if self.new < self.old else DEBUG

    def describe(self) -> str:
        """``limiter 'db' limit 20 -> 10 (dropped)``."""
        return f"limiter {self.name!r} limit {self.old} -> {self.new} ({self.reason})"


LimiterEvent: TypeAlias = BulkheadRejected | LimiterRejected | LimitChanged
"""Every event of a bulkhead or an adaptive limiter."""

Listener: TypeAlias = Callable[[LimiterEvent], object]
