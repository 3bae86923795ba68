"""RateLimiter against a plain token bucket, as a Hypothesis state machine on a FakeClock.

The model is the textbook token bucket with debt, in exact fractions: ``burst`` tokens,
refilled at ``rate / per`` a second; a request takes its tokens and, when that leaves a
debt, waits until the debt is paid. The limiter must decide as the model does, give the
model's exact ``retry_after``, and never admit more than ``burst + rate x t / per``
tokens in any window of ``t`` seconds (checked as each admission ends a window).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from resilience import RateLimitedError, RateLimiter
from resilience.testing import FakeClock

# Dyadic rates and periods: every time the limiter computes is exact in floats too.
RATES = [1, 2, 4, 8]
PERS = [0.5, 1.0, 2.0]


class TokenBucket:
    """The plain model: tokens that refill over time, and a debt that waiting pays."""

    def __init__(self, rate: int, per: float, burst: int) -> None:
        self.refill = Fraction(rate) / Fraction(per)  # tokens per second
        self.burst = Fraction(burst)
        self.tokens = Fraction(burst)
        self.at = Fraction(0)

    def _now(self, now: Fraction) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.refill)
        self.at = now

    def request(self, now: Fraction, n: int, max_wait: Fraction) -> Fraction | None:
        """The wait before ``n`` tokens (taken), or None when it passes ``max_wait``."""
        self._now(now)
        left = self.tokens - n
        wait = -left / self.refill if left < 0 else Fraction(0)
        if wait > max_wait:
            return None
        self.tokens = left
        return wait

    def retry_after(self, now: Fraction, n: int) -> Fraction:
        """Seconds until ``n`` tokens are there."""
        self._now(now)
        return max(Fraction(0), (n - self.tokens) / self.refill)


class RateLimiterMachine(RuleBasedStateMachine):
    """Random requests and time steps against a limiter and the model."""

    @initialize(
        rate=st.sampled_from(RATES),
        per=st.sampled_from(PERS),
        burst=st.integers(min_value=1, max_value=6),
    )
    def build(self, rate: int, per: float, burst: int) -> None:
        """A limiter and its model, both full."""
        self.clock = FakeClock()
        self.limiter = RateLimiter("m", rate=rate, per=per, burst=burst, clock=self.clock)
        self.model = TokenBucket(rate, per, burst)
        self.rate, self.per, self.burst = Fraction(rate), Fraction(per), burst
        # (when each admitted call starts, tokens admitted before it): prefix sums.
        self.admitted: list[tuple[Fraction, int]] = []
        self.total = 0

    def now(self) -> Fraction:
        return Fraction(self.clock.monotonic())

    @rule(steps=st.integers(min_value=0, max_value=64))
    def advance(self, steps: int) -> None:
        """Time passes, in 1/32 s steps."""
        self.clock.advance(steps / 32)

    @rule(data=st.data())
    def try_acquire(self, data: st.DataObject) -> None:
        """try_acquire() admits exactly when the model has the tokens now."""
        n = data.draw(st.integers(min_value=1, max_value=self.burst))
        now = self.now()
        expected = self.model.request(now, n, Fraction(0))
        assert self.limiter.try_acquire(n) is (expected is not None)
        if expected is not None:
            self.admit(now, n)

    @rule(data=st.data())
    def acquire(self, data: st.DataObject) -> None:
        """acquire() waits what the model waits, or refuses with its exact retry_after."""
        n = data.draw(st.integers(min_value=1, max_value=self.burst))
        max_wait = Fraction(data.draw(st.integers(min_value=0, max_value=48)), 16)
        now = self.now()
        retry_after = self.model.retry_after(now, n)
        expected = self.model.request(now, n, max_wait)
        if expected is None:
            with pytest.raises(RateLimitedError) as caught:
                self.limiter.acquire(n, max_wait=float(max_wait))
            assert caught.value.retry_after == pytest.approx(float(retry_after), abs=1e-9)
            assert self.now() == now  # refused at once
            return
        waited = self.limiter.acquire(n, max_wait=float(max_wait))
        assert waited == pytest.approx(float(expected), abs=1e-9)
        assert self.now() == now + expected  # slept on the clock
        self.admit(now + expected, n)

    def admit(self, end: Fraction, n: int) -> None:
        """Record an admission; no window ending with it holds more than the limit."""
        self.total += n
        for start, before in self.admitted:
            assert self.total - before <= self.burst + self.rate * (end - start) / self.per
        assert n <= self.burst
        self.admitted.append((end, self.total - n))

    @invariant()
    def tokens_agree(self) -> None:
        """The tokens the limiter shows are the model's (its debt shown as none)."""
        if not hasattr(self, "model"):
            return
        self.model.retry_after(self.now(), 1)  # brings the model to now
        expected = float(max(self.model.tokens, Fraction(0)))
        assert self.limiter.tokens == pytest.approx(expected, abs=1e-9)


TestRateLimiterMachine = RateLimiterMachine.TestCase
TestRateLimiterMachine.settings = settings(stateful_step_count=30)
