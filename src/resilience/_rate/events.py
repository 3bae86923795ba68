"""What a rate limiter reports: a call refused, and a call that waited for its turn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from resilience._core.events import DEBUG, INFO, Event

__all__ = ["RateDelayed", "RateEvent", "RateLimited"]


@dataclass(frozen=True, slots=True)
class RateLimited(Event):
    """A rate limiter refused a request: it would have had to wait past ``max_wait``."""

    name: str
    requested: int
    retry_after: float | None
    """Seconds until the request would be admitted at once (None: cannot tell)."""

    event_name = "rate_limiter.rejected"
    level = INFO  # a refusal is the limiter doing its job

    def describe(self) -> str:
        """``rate limiter 'api' refused 1 token(s); retry in 0.25 s``."""
        when = "cannot tell when" if self.retry_after is None else f"{self.retry_after:.3g} s"
        return f"rate limiter {self.name!r} refused {self.requested} token(s); retry in {when}"


@dataclass(frozen=True, slots=True)
class RateDelayed(Event):
    """A rate limiter admitted a request after a wait (at most ``max_wait``)."""

    name: str
    requested: int
    wait: float
    """Seconds the request waits for its turn."""

    event_name = "rate_limiter.delayed"
    level = DEBUG

    def describe(self) -> str:
        """``rate limiter 'api' admits 1 token(s) after 0.1 s``."""
        return (
            f"rate limiter {self.name!r} admits {self.requested} token(s) after {self.wait:.3g} s"
        )


RateEvent: TypeAlias = RateLimited | RateDelayed
Listener: TypeAlias = Callable[[RateEvent], object]
