"""RateLimiterOptions: a rate limiter's configuration, validated once at construction."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from resilience._core.options import Options, Seconds

__all__ = ["RateLimiterOptions"]


class RateLimiterOptions(Options):
    """What a :class:`~resilience.RateLimiter` was configured with; durations in seconds."""

    name: str = Field(min_length=1, max_length=200)
    """What the limiter guards (a remote, an API key); its key in a shared store."""
    rate: float = Field(gt=0, allow_inf_nan=False)
    """Calls admitted per ``per`` seconds, on average."""
    per: Seconds = Field(default=1.0, gt=0, allow_inf_nan=False)
    """The period ``rate`` is counted over."""
    burst: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """Calls admitted at once after a quiet spell (``ceil(rate)`` when not given)."""
    max_wait: Seconds = Field(default=0.0, ge=0, allow_inf_nan=False)
    """Seconds a call may wait for its turn before it is refused (0: never waits)."""

    @model_validator(mode="after")
    def _interval(self) -> RateLimiterOptions:
        if self.per / self.rate < 1e-6:  # noqa: PLR2004 - the shared store keeps microseconds
            raise ValueError(
                f"rate={self.rate:g} per={self.per:g} s admits a call every "
                f"{self.per / self.rate:.3g} s; the finest is one per microsecond "
                "(1,000,000 per second): lower rate or raise per"
            )
        return self

    @property
    def interval(self) -> float:
        """Seconds between two calls at the steady rate: ``per / rate``."""
        return self.per / self.rate

    @property
    def capacity(self) -> int:
        """The burst in effect: ``burst``, or ``ceil(rate)``."""
        return self.burst if self.burst is not None else max(1, math.ceil(self.rate))
