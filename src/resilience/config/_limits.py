"""The sections of the limits a remote keeps state in: bulkhead, rate limiter, limiter, hedge.

Each builds one instance per remote, kept across reloads while the remote's section is
unchanged (see :attr:`Wiring.keep`): its slots, tokens, estimate or latencies are the
remote's, not the version's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from resilience._core.options import Options, Seconds
from resilience._core.strategy import Strategy
from resilience._hedge.hedge import Hedge
from resilience._limit.adaptive import AdaptiveLimiter
from resilience._limit.algorithms import AIMD, Gradient2
from resilience._limit.bulkhead import Bulkhead, BulkheadConfig
from resilience._rate.limiter import RateLimiter
from resilience.config._wiring import Wiring

__all__ = [
    "ALGORITHMS",
    "AIMDLimiterConfig",
    "Gradient2LimiterConfig",
    "HedgeConfig",
    "LimiterConfig",
    "RateLimitConfig",
    "bulkhead",
    "hedge",
    "limiter",
    "rate_limiter",
]


class RateLimitConfig(Options):
    """A remote's rate limit, as :class:`~resilience.RateLimiter` takes it."""

    rate: float = Field(gt=0, allow_inf_nan=False)
    """Calls admitted per ``per`` seconds, on average."""
    per: Seconds = Field(default=1.0, gt=0, allow_inf_nan=False)
    burst: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """Calls admitted at once after a quiet spell (``ceil(rate)`` when not given)."""
    max_wait: Seconds = Field(default=0.0, ge=0, allow_inf_nan=False)
    """Seconds a call may wait for its turn before it is refused (0: never waits)."""
    shared: bool = False
    """One limit for every process of the ``[store]``'s Redis, else this process's."""

    @model_validator(mode="after")
    def _interval(self) -> Self:
        # RateLimiter's own rule, checked here so a file breaking it is refused at load.
        if self.per / self.rate < 1e-6:  # noqa: PLR2004
            raise ValueError(
                f"rate={self.rate:g} per={self.per:g} s admits a call every "
                f"{self.per / self.rate:.3g} s; the finest is one per microsecond: "
                "lower rate or raise per"
            )
        return self


class AIMDLimiterConfig(AIMD):
    """An adaptive limiter with ``algorithm = "aimd"`` (the default) and AIMD's fields."""

    algorithm: Literal["aimd"] = "aimd"


class Gradient2LimiterConfig(Gradient2):
    """An adaptive limiter with ``algorithm = "gradient2"`` and Gradient2's fields."""

    algorithm: Literal["gradient2"]


ALGORITHMS: dict[str, tuple[type[Options], type[AIMD | Gradient2]]] = {
    "aimd": (AIMDLimiterConfig, AIMD),
    "gradient2": (Gradient2LimiterConfig, Gradient2),
}
"""A limiter section's ``algorithm`` -> (its section model, the algorithm it builds)."""


def _algorithm_of(value: Any) -> str | None:  # noqa: ANN401 - a table or a model
    if isinstance(value, dict):
        algorithm = value.get("algorithm", "aimd")
        return algorithm if isinstance(algorithm, str) else None
    return getattr(value, "algorithm", None)


LimiterConfig = Annotated[
    Annotated[AIMDLimiterConfig, Tag("aimd")] | Annotated[Gradient2LimiterConfig, Tag("gradient2")],
    Discriminator(
        _algorithm_of,
        custom_error_type="algorithm",
        custom_error_message="algorithm must be 'aimd' (the default) or 'gradient2'",
    ),
]
"""A limiter section: AIMD's fields, or ``algorithm = "gradient2"`` and Gradient2's."""


class HedgeConfig(Options):
    """A remote's hedging, as :class:`~resilience.Hedge` takes it (async calls only)."""

    delay: Seconds = Field(ge=0)
    """Seconds without an answer before each hedge (until ``min_samples``, if percentile)."""
    max_hedges: int = Field(default=1, ge=1, le=16)
    percentile: float | None = Field(default=None, gt=0, lt=100)
    """Wait this percentile of the measured latencies instead of a fixed delay."""
    window: int = Field(default=200, ge=10, le=100_000)
    min_samples: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _samples_fit(self) -> Self:
        if self.min_samples > self.window:
            raise ValueError(
                f"min_samples={self.min_samples} must be at most window={self.window}: the "
                "window holds the latencies the percentile is taken from"
            )
        return self


def _kept(
    name: str, value: Options | None, wiring: Wiring, build: Callable[[Any], Strategy]
) -> Strategy | None:
    if value is None:
        return None
    return wiring.keep(name, value, lambda: build(value))


def bulkhead(value: BulkheadConfig | None, wiring: Wiring) -> Strategy | None:
    """The remote's :class:`Bulkhead`, kept while its section is unchanged."""
    return _kept("bulkhead", value, wiring,
                 lambda v: Bulkhead(name=wiring.remote, config=v, clock=wiring.clock))


def rate_limiter(value: RateLimitConfig | None, wiring: Wiring) -> Strategy | None:
    """The remote's :class:`RateLimiter`, the fleet's with ``shared``; kept while unchanged."""
    return _kept("rate_limiter", value, wiring, lambda v: RateLimiter(
        wiring.remote, rate=v.rate, per=v.per, burst=v.burst, max_wait=v.max_wait,
        clock=wiring.clock, store=wiring.rate_store() if v.shared else None,
    ))


def limiter(value: AIMD | Gradient2 | None, wiring: Wiring) -> Strategy | None:
    """The remote's :class:`AdaptiveLimiter`, kept (its estimate too) while unchanged."""

    def build(v: Any) -> Strategy:  # noqa: ANN401 - one of ALGORITHMS' models
        algorithm = ALGORITHMS[v.algorithm][1](**v.model_dump(exclude={"algorithm"}))
        return AdaptiveLimiter(name=wiring.remote, algorithm=algorithm, clock=wiring.clock)

    return _kept("limiter", value, wiring, build)


def hedge(value: HedgeConfig | None, wiring: Wiring) -> Strategy | None:
    """The remote's :class:`Hedge`, kept (its latencies too) while unchanged."""
    return _kept("hedge", value, wiring, lambda v: Hedge(
        delay=v.delay, max_hedges=v.max_hedges, percentile=v.percentile, window=v.window,
        min_samples=v.min_samples, name=wiring.remote, clock=wiring.clock,
    ))
