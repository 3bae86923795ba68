"""The validated options of :class:`~resilience.RedisBreakerStore` and ``RedisRateStore``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from resilience._core.options import Options, Seconds

__all__ = ["BreakerStoreOptions", "RateStoreOptions"]


class BreakerStoreOptions(Options):
    """What :class:`~resilience.RedisBreakerStore` was configured with; durations in seconds."""

    namespace: str = Field(min_length=1, pattern=r"^[^{}]+$")
    on_error: Literal["local", "closed", "open"] = "local"
    batch_size: int = Field(default=10, gt=0)
    flush_interval: Seconds = Field(default=0.05, gt=0)
    timeout: Seconds = Field(default=0.25, gt=0)
    retry_interval: Seconds = Field(default=1.0, gt=0)
    ttl: Seconds = Field(default=86_400.0, gt=0)


class RateStoreOptions(Options):
    """What :class:`~resilience.RedisRateStore` was configured with; durations in seconds."""

    namespace: str = Field(min_length=1, pattern=r"^[^{}]+$")
    on_error: Literal["local", "closed", "open"] = "local"
    timeout: Seconds = Field(default=0.25, gt=0, allow_inf_nan=False)
    retry_interval: Seconds = Field(default=1.0, gt=0, allow_inf_nan=False)
