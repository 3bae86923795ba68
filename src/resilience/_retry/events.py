"""What a retry policy reports: a retry it scheduled."""

from __future__ import annotations

from dataclasses import dataclass

from resilience._classify.classifier import Classification
from resilience._core.events import INFO, Event

__all__ = ["RetryScheduled"]


@dataclass(frozen=True, slots=True)
class RetryScheduled(Event):
    """A retry policy will wait ``delay`` seconds, then make attempt ``attempt + 1``."""

    attempt: int
    """The attempt that just failed (1 for the first call)."""
    error: BaseException
    classification: Classification
    delay: float
    elapsed: float
    """Seconds since the operation started (or since its first failure)."""

    event_name = "retry.scheduled"
    level = INFO

    def describe(self) -> str:
        """``attempt 1 failed (ConnectionResetError: ...); retrying in 0.5 s``."""
        return (
            f"attempt {self.attempt} failed ({type(self.error).__name__}: "
            f"{self.classification.reason}); retrying in {self.delay:.3g} s"
        )

    def fields(self) -> dict[str, object]:
        """The attempt, the delay, the seconds so far, the error's type name and the reason."""
        return {
            "event": self.event_name,
            "attempt": self.attempt,
            "delay": self.delay,
            "elapsed": self.elapsed,
            "error": type(self.error).__name__,
            "reason": self.classification.reason,
        }
