"""AdaptiveLimiter beside a plain model of AIMD and Gradient2, by hypothesis state machines.

The model writes each algorithm out as Netflix's concurrency-limits states it (with the
drop rule this library adds to Gradient2) and keeps its own count of calls in flight.
Calls are held open across steps and finish in any order, after any time on a FakeClock,
as a success, a timeout, a refusal from further in, another error or a cancellation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from resilience import AIMD, AdaptiveLimiter, Gradient2, LimitExceededError, RejectedError
from resilience.testing import FakeClock

OUTCOMES = {
    "success": None,
    "timeout": TimeoutError("slow"),
    "refused": RejectedError("refused further in"),
    "error": ConnectionError("reset"),
    "cancelled": asyncio.CancelledError(),
}


@dataclass
class Model:
    """The limit, the calls in flight and the counts, written out plainly."""

    algorithm: AIMD | Gradient2
    limit: float = 0.0
    in_flight: int = 0
    admitted: int = 0
    rejected: int = 0
    dropped: int = 0
    samples: list[float] = field(default_factory=list)
    long_rtt: float = 0.0

    def __post_init__(self) -> None:
        self.limit = float(self.algorithm.initial_limit)

    def sample(self, rtt: float, in_flight: int, dropped: bool) -> None:
        a = self.algorithm
        if isinstance(a, AIMD):
            current = int(self.limit)
            if dropped or rtt > a.timeout:
                self.limit = max(a.min_limit, min(current - 1, int(current * a.backoff_ratio)))
            elif 2 * in_flight >= current:
                self.limit = min(a.max_limit, current + 1)
            return
        rtt = max(rtt, 1e-9)
        self.samples.append(rtt)
        if len(self.samples) <= a.warmup:
            self.long_rtt = sum(self.samples) / len(self.samples)
        else:
            factor = 2.0 / (a.long_window + 1)
            self.long_rtt = self.long_rtt * (1 - factor) + rtt * factor
        if self.long_rtt / rtt > 2:
            self.long_rtt *= 0.9
        if in_flight < self.limit / 2 and not dropped:
            return
        gradient = 0.5 if dropped else max(0.5, min(1.0, self.long_rtt / rtt))
        estimate = self.limit * gradient + a.queue_size
        estimate = self.limit * (1 - a.smoothing) + estimate * a.smoothing
        self.limit = max(float(a.min_limit), min(float(a.max_limit), estimate))


class LimiterMachine(RuleBasedStateMachine):
    """The limiter beside the model; open calls are (token, start, in flight at start)."""

    def setup(self, algorithm: AIMD | Gradient2) -> None:
        self.clock = FakeClock()
        self.limiter = AdaptiveLimiter("db", algorithm, clock=self.clock)
        self.model = Model(algorithm)
        self.open: list[tuple[tuple[float, int], float, int]] = []

    @rule()
    def start(self) -> None:
        """A call arrives: admitted below the limit, refused at it."""
        m = self.model
        if m.in_flight >= int(m.limit):
            with pytest.raises(LimitExceededError) as refused:
                self.limiter.before(None, (), {})
            assert (refused.value.in_flight, refused.value.limit) == (m.in_flight, int(m.limit))
            m.rejected += 1
        else:
            token = self.limiter.before(None, (), {})
            m.in_flight += 1
            m.admitted += 1
            self.open.append((token, self.clock.monotonic(), m.in_flight))

    @rule(seconds=st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2, 1.0, 7.0]))
    def wait(self, seconds: float) -> None:
        """Time passes."""
        self.clock.advance(seconds)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), outcome=st.sampled_from(sorted(OUTCOMES)))
    def finish(self, data: st.DataObject, outcome: str) -> None:
        """An open call ends, in any order, with any outcome."""
        token, started, in_flight = self.open.pop(data.draw(st.integers(0, len(self.open) - 1)))
        m = self.model
        m.in_flight -= 1
        self.limiter.after(token, None, OUTCOMES[outcome])
        if outcome in {"error", "cancelled"}:
            return  # teaches nothing
        dropped = outcome != "success"
        m.dropped += dropped
        m.sample(self.clock.monotonic() - started, in_flight, dropped)

    @invariant()
    def agrees(self) -> None:
        """Limit, in flight and counts agree; the limit stays within its bounds."""
        if not hasattr(self, "model"):
            return
        m, a = self.model, self.model.algorithm
        assert self.limiter.limit == int(m.limit)
        assert a.min_limit <= self.limiter.limit <= a.max_limit
        (shown,) = self.limiter.measurements()
        assert shown.gauges["limit"] == int(m.limit)
        assert shown.gauges["in_flight"] == m.in_flight == self.limiter.in_flight
        counts = {"admitted": m.admitted, "rejected": m.rejected, "dropped": m.dropped}
        assert shown.totals == counts


class AIMDMachine(LimiterMachine):
    """AIMD with small, varied bounds."""

    @initialize(
        low=st.integers(1, 3),
        span=st.integers(0, 5),
        ratio=st.sampled_from([0.5, 0.75, 0.9]),
        timeout=st.sampled_from([0.05, 1.0]),
    )
    def begin(self, low: int, span: int, ratio: float, timeout: float) -> None:
        self.setup(
            AIMD(
                initial_limit=low + span // 2,
                min_limit=low,
                max_limit=low + span,
                backoff_ratio=ratio,
                timeout=timeout,
            )
        )


class Gradient2Machine(LimiterMachine):
    """Gradient2 with small, varied bounds and windows."""

    @initialize(
        low=st.integers(1, 3),
        span=st.integers(0, 8),
        smoothing=st.sampled_from([0.2, 0.5, 1.0]),
        queue=st.integers(0, 4),
        window=st.integers(1, 20),
        warmup=st.integers(1, 5),
    )
    def begin(  # noqa: PLR0917 - one draw per field, as hypothesis passes them
        self, low: int, span: int, smoothing: float, queue: int, window: int, warmup: int
    ) -> None:
        self.setup(
            Gradient2(
                initial_limit=low + span // 2,
                min_limit=low,
                max_limit=low + span,
                smoothing=smoothing,
                queue_size=queue,
                long_window=window,
                warmup=warmup,
            )
        )


_SETTINGS = settings(stateful_step_count=40)
TestAIMD = AIMDMachine.TestCase
TestAIMD.settings = _SETTINGS
TestGradient2 = Gradient2Machine.TestCase
TestGradient2.settings = _SETTINGS
