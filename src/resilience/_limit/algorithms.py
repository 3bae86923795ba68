"""How an adaptive limit moves: AIMD and Gradient2, as Netflix's concurrency-limits has them.

Each algorithm is a frozen config (:class:`AIMD`, :class:`Gradient2`) and the state it
starts (:meth:`start`): a sample — a call's round trip, the calls in flight when it
started, whether it was dropped (timed out, refused further in) — moves the estimate,
which stays within ``min_limit`` and ``max_limit``. The state is not thread-safe: the
limiter updates it under its lock.
"""

from __future__ import annotations

from typing import Any, Self, TypeAlias

from pydantic import Field, model_validator

from resilience._core.options import Options, Seconds

__all__ = ["AIMD", "Algorithm", "Estimate", "Gradient2"]

GREW = "latency held"
SHRANK = "latency rose"
DROPPED = "dropped"
SLOW = "slower than timeout"
_RECOVERY = 2.0  # long_rtt / short_rtt beyond which the baseline decays at once (Netflix's)


class _Limits(Options):
    initial_limit: int = Field(default=10, ge=1)
    """The limit before any sample."""
    min_limit: int = Field(default=1, ge=1)
    """The limit never goes below this."""
    max_limit: int = Field(default=200, ge=1)
    """The limit never goes above this."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_limit > self.max_limit:
            raise ValueError(
                f"min_limit ({self.min_limit}) must not exceed max_limit ({self.max_limit})"
            )
        if not self.min_limit <= self.initial_limit <= self.max_limit:
            raise ValueError(
                f"initial_limit ({self.initial_limit}) must lie within min_limit "
                f"({self.min_limit}) and max_limit ({self.max_limit})"
            )
        return self


class Estimate:
    """An algorithm's running estimate of the limit (AIMD's is an int, Gradient2's a float).

    A success no slower than ``quiet_rtt`` that started with fewer than ``quiet_below``
    calls in flight would move nothing: the limiter then skips :meth:`update`. By
    default no sample is quiet.
    """

    __slots__ = ("limit", "quiet_below", "quiet_rtt")

    def __init__(self, limit: Any) -> None:  # noqa: ANN401 - an int or a float, as above
        self.limit = limit
        self.quiet_rtt = -1.0
        self.quiet_below = 0

    def update(self, rtt: float, in_flight: int, dropped: bool) -> str | None:
        """Take one sample; why the estimate moved, or None if it held."""
        raise NotImplementedError

    def gauges(self) -> dict[str, float]:
        """What the algorithm measures besides the limit, for measurements."""
        return {}


class AIMD(_Limits):
    """Additive increase, multiplicative decrease: +1 while calls succeed, x ratio on a drop.

    A success grows the limit by one while at least half of it is in use (an unused
    limit is not evidence that a larger one would do); a drop, or a call slower than
    ``timeout``, multiplies it by ``backoff_ratio`` (by at least one).
    """

    backoff_ratio: float = Field(default=0.9, ge=0.5, lt=1)
    """What a drop multiplies the limit by, in [0.5, 1)."""
    timeout: Seconds = Field(default=5.0, gt=0, allow_inf_nan=False)
    """A call slower than this many seconds counts as dropped."""

    def start(self) -> Estimate:
        """A fresh estimate at ``initial_limit``."""
        return _AIMDEstimate(self)


class _AIMDEstimate(Estimate):
    # The config's values copied into slots: every call's sample reads them.
    __slots__ = ("_max", "_min", "_ratio", "_timeout")

    def __init__(self, config: AIMD) -> None:
        super().__init__(config.initial_limit)
        self._min, self._max = config.min_limit, config.max_limit
        self._ratio, self._timeout = config.backoff_ratio, config.timeout
        # Fewer than half the limit in flight, in time: update() would return None.
        self.quiet_rtt = config.timeout
        self.quiet_below = (config.initial_limit + 1) // 2

    def update(self, rtt: float, in_flight: int, dropped: bool) -> str | None:
        limit = self.limit
        if dropped or rtt > self._timeout:
            new = max(self._min, min(limit - 1, int(limit * self._ratio)))
            reason = DROPPED if dropped else SLOW
        elif in_flight * 2 >= limit:
            new, reason = min(self._max, limit + 1), GREW
        else:
            return None
        if new == limit:
            return None
        self.limit = new
        self.quiet_below = (new + 1) // 2
        return reason


class Gradient2(_Limits):
    """The limit follows the ratio of the long-term to the recent round trip.

    Each sample: ``gradient = clamp(long_rtt / short_rtt, 0.5, 1)``, ``new = limit *
    gradient + queue_size``, smoothed: ``limit = limit * (1 - smoothing) + new *
    smoothing``. ``long_rtt`` is an exponential average over ``long_window`` samples
    (a plain mean over the first ``warmup`` ones), ``short_rtt`` the last sample. While
    latency holds the gradient is 1 and the limit grows by ``queue_size * smoothing``
    per sample; as latency rises it shrinks. A drop counts as the steepest gradient,
    0.5 (Netflix's Gradient2 ignores drops; a limiter here shrinks on them). No change
    while fewer than half the limit are in flight.
    """

    initial_limit: int = Field(default=20, ge=1)
    """The limit before any sample."""
    smoothing: float = Field(default=0.2, gt=0, le=1)
    """How far one sample moves the limit toward its new estimate, in (0, 1]."""
    queue_size: int = Field(default=4, ge=0)
    """How many calls may queue at the remote beyond the estimate: the growth step."""
    long_window: int = Field(default=600, ge=1)
    """Samples the long-term round trip averages over."""
    warmup: int = Field(default=10, ge=1)
    """Samples averaged plainly before the long-term average is exponential."""

    def start(self) -> Estimate:
        """A fresh estimate at ``initial_limit``."""
        return _Gradient2Estimate(self)


class _Gradient2Estimate(Estimate):
    __slots__ = ("_c", "_count", "_factor", "_sum", "long_rtt", "short_rtt")

    def __init__(self, config: Gradient2) -> None:
        super().__init__(float(config.initial_limit))
        self._c = config
        self._count = 0
        self._sum = 0.0
        self._factor = 2.0 / (config.long_window + 1)
        self.long_rtt = 0.0
        self.short_rtt = 0.0

    def update(self, rtt: float, in_flight: int, dropped: bool) -> str | None:
        c = self._c
        rtt = max(rtt, 1e-9)  # a call the clock saw take no time: as short as can be
        self.short_rtt = rtt
        if self._count < c.warmup:
            self._count += 1
            self._sum += rtt
            self.long_rtt = self._sum / self._count
        else:
            self.long_rtt = self.long_rtt * (1 - self._factor) + rtt * self._factor
        if self.long_rtt / rtt > _RECOVERY:  # back from a long overload: let it recover
            self.long_rtt *= 0.9
        if in_flight < self.limit / 2 and not dropped:
            return None  # limited by the application, not the remote: nothing learned
        gradient = 0.5 if dropped else max(0.5, min(1.0, self.long_rtt / rtt))
        new = self.limit * gradient + c.queue_size
        new = self.limit * (1 - c.smoothing) + new * c.smoothing
        new = max(float(c.min_limit), min(float(c.max_limit), new))
        old, self.limit = int(self.limit), new
        if int(new) == old:
            return None
        return GREW if int(new) > old else DROPPED if dropped else SHRANK

    def gauges(self) -> dict[str, float]:
        return {"short_rtt_seconds": self.short_rtt, "long_rtt_seconds": self.long_rtt}


Algorithm: TypeAlias = AIMD | Gradient2
"""The algorithms an :class:`~resilience.AdaptiveLimiter` takes."""
