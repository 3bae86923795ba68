"""The latency window a percentile hedge keeps, against a plain list and a sort."""

from __future__ import annotations

import math

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from resilience._hedge.latency import Latencies

WINDOW = 16
MIN_SAMPLES = 5
PERCENTILE = 90.0


def nearest_rank(samples: list[float], percentile: float) -> float:
    """The textbook nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)]


class LatencyWindow(RuleBasedStateMachine):
    """Latencies recorded one by one; the delay is re-read every WINDOW // 8 of them."""

    def __init__(self) -> None:
        super().__init__()
        self.window = Latencies(
            percentile=PERCENTILE, window=WINDOW, min_samples=MIN_SAMPLES, initial=1.0
        )
        self.samples: list[float] = []
        self.delay = 1.0
        self.since = 0

    @rule(seconds=st.floats(min_value=0, max_value=10, allow_nan=False))
    def record(self, seconds: float) -> None:
        """One latency more; the model keeps the last WINDOW and re-reads on schedule."""
        self.window.record(seconds)
        self.samples = [*self.samples, seconds][-WINDOW:]
        self.since += 1
        count = len(self.samples)
        if count >= MIN_SAMPLES and (self.since >= WINDOW // 8 or count == MIN_SAMPLES):
            self.since = 0
            self.delay = nearest_rank(self.samples, PERCENTILE)

    @invariant()
    def the_delay_is_the_models(self) -> None:
        """The delay and the count agree with the model."""
        assert self.window.delay == self.delay
        assert self.window.count == len(self.samples)


TestLatencyWindow = LatencyWindow.TestCase
