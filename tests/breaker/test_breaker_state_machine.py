"""CircuitBreaker run beside a plain model by hypothesis state machines.

The model is the specification written out as simply as possible. After every step the
real breaker and the model must agree on the state, the half-open permits in flight, the
consecutive count, the window's calls and failures, the rejections, when the circuit
opened and when a trial is allowed. Calls held open across steps, each ``with breaker:``
entered in its own ``contextvars`` context as concurrent callers would be, exercise
exact half-open permits and stale outcomes (a call admitted before a transition that
finishes after it).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from resilience import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    resilient,
)
from resilience.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, DISABLED = CircuitState.FORCED_OPEN, CircuitState.DISABLED
METRICS_ONLY = CircuitState.METRICS_ONLY

Kind = Literal["success", "failure", "ignored"]
KINDS: tuple[Kind, ...] = ("success", "failure", "ignored")
FORMS = ("call", "with", "decorator", "resilient")
SKIP = -1  # the model's token for a call that records nothing


class Rejected(Exception):  # noqa: N818 - the model's CircuitOpenError
    """The model rejected a call."""


@dataclass
class Model:
    """The breaker's rules, written out plainly."""

    config: BreakerConfig
    now: float = 0.0
    state: CircuitState = CLOSED
    gen: int = 0
    consecutive: int = 0
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    """(time recorded, failed) for every counted outcome since the window was cleared."""
    opened_at: float | None = None
    open_period: float = 0.0
    half_open_since: float = 0.0
    permits: int = 0
    trial_successes: int = 0
    rejected: int = 0

    def __post_init__(self) -> None:
        self.open_period = self.config.open_for

    # -- the window: what it holds is derived from every outcome recorded

    def window(self) -> list[bool]:
        config = self.config
        if not config.uses_window:
            return []
        seconds = config.window_seconds
        if seconds is None:
            return [failed for _, failed in self.outcomes[-config.window_size :]]
        # Buckets of one second: an outcome leaves once its bucket is `seconds` old.
        return [
            failed
            for at, failed in self.outcomes
            if math.floor(self.now) - math.floor(at) < seconds
        ]

    def trips(self) -> bool:
        config = self.config
        if config.failure_threshold is not None and self.consecutive >= config.failure_threshold:
            return True
        window = self.window()
        if not config.uses_window or len(window) < config.minimum_calls:
            return False
        assert config.failure_rate is not None
        return sum(window) >= config.failure_rate * len(window)

    # -- transitions

    def to(self, new: CircuitState, at: float | None = None) -> None:
        old = self.state
        self.gen += 1
        self.state = new
        self.permits = 0
        self.trial_successes = 0
        if new is OPEN:
            if old is HALF_OPEN:
                self.open_period = self.reopen_period()
            self.opened_at = self.now if at is None else at
        elif new is HALF_OPEN:
            self.half_open_since = self.now
        else:  # closed, or a manual state: a fresh start
            self.opened_at = None
            self.open_period = self.config.open_for
            self.consecutive = 0
            self.outcomes.clear()

    def reopen_period(self) -> float:
        """The open period after a failed half-open one: doubled, if there is a cap."""
        cap = self.config.open_for_max
        return self.open_period if cap is None else min(2 * self.open_period, cap)

    def expired(self) -> bool:
        """Whether the half-open period (if limited) is over."""
        timeout = self.config.half_open_timeout
        return timeout is not None and self.now - self.half_open_since >= timeout

    def expire(self) -> None:
        """HALF_OPEN ran out of time: OPEN since the moment it did."""
        assert self.config.half_open_timeout is not None
        self.to(OPEN, at=self.half_open_since + self.config.half_open_timeout)

    def manual(self, new: CircuitState) -> None:
        if self.state is new and new is not CLOSED:
            return  # already there: no transition
        self.to(new)
        if new is CLOSED:
            self.rejected = 0

    def admit(self) -> int:
        """Admit a call, returning its token, or raise Rejected."""
        if self.state in {CLOSED, METRICS_ONLY}:
            return self.gen
        if self.state is DISABLED:
            return SKIP
        if self.state is HALF_OPEN and self.expired():
            self.expire()
        if self.state is OPEN:
            assert self.opened_at is not None
            if self.now >= self.opened_at + self.open_period:
                self.to(HALF_OPEN)
        if self.state is HALF_OPEN and self.permits < self.config.half_open_max_calls:
            self.permits += 1
            return self.gen
        self.rejected += 1
        raise Rejected

    def record(self, token: int, kind: Kind) -> None:
        """Apply a finished call's outcome: only if nothing changed while it ran."""
        if token != self.gen:  # stale, or SKIP (never a generation)
            return
        if self.state is HALF_OPEN and self.expired():
            self.expire()  # a late trial decides nothing
            return
        if self.state is HALF_OPEN:
            self.permits -= 1
            if kind == "failure":
                self.consecutive += 1
                self.to(OPEN)
            elif kind == "success":
                self.consecutive = 0
                self.trial_successes += 1
                if self.trial_successes >= self.config.success_threshold:
                    self.to(CLOSED)
            return
        if kind == "ignored":
            return
        failed = kind == "failure"
        self.consecutive = self.consecutive + 1 if failed else 0
        self.outcomes.append((self.now, failed))
        if self.state is CLOSED and self.trips():
            self.to(OPEN)

    def retry_after(self) -> float | None:
        if self.state is OPEN:
            assert self.opened_at is not None
            return max(0.0, self.opened_at + self.open_period - self.now)
        if self.state is HALF_OPEN:
            if not self.expired() and self.permits < self.config.half_open_max_calls:
                return 0.0  # the next call is a trial
            timeout = self.config.half_open_timeout
            if timeout is None:
                return None
            # The trials time out, then the open period after them passes.
            end = self.half_open_since + timeout + self.reopen_period()
            return max(0.0, end - self.now)
        if self.state is FORCED_OPEN:
            return None
        return 0.0


class Held:
    """A ``with breaker:`` call entered in its own context and finished later."""

    def __init__(self, breaker: CircuitBreaker, token: int) -> None:
        self.breaker = breaker
        self.token = token
        self.ctx = contextvars.copy_context()

    def enter(self) -> None:
        self.ctx.run(self.breaker.__enter__)

    def finish(self, kind: Kind) -> None:
        error = _error(kind)
        if error is None:
            self.ctx.run(self.breaker.__exit__, None, None, None)
        else:
            self.ctx.run(self.breaker.__exit__, type(error), error, None)


def _error(kind: Kind) -> BaseException | None:
    if kind == "failure":
        return ConnectionRefusedError("refused")
    if kind == "ignored":
        return KeyboardInterrupt()
    return None


def _run(kind: Kind) -> str:
    error = _error(kind)
    if error is not None:
        raise error
    return "ok"


class BreakerMachine(RuleBasedStateMachine):
    """Drives a CircuitBreaker and the Model with the same steps."""

    config: ClassVar[BreakerConfig]
    MAX_IN_FLIGHT: ClassVar[int] = 6

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.breaker = CircuitBreaker("remote", self.config, clock=self.clock)
        self.model = Model(self.config)
        self.in_flight: list[Held] = []

    # ----------------------------------------------------------------------- calls

    @rule(kind=st.sampled_from(KINDS), form=st.sampled_from(FORMS))
    def call(self, kind: Kind, form: str) -> None:
        """A call that starts and finishes within the step."""
        self._through(form, kind, _run)

    @rule(
        kind=st.sampled_from(KINDS),
        form=st.sampled_from(FORMS),
        steps=st.lists(st.sampled_from([*KINDS, "reset", "force_open", "wait"]), max_size=6),
    )
    def outlive(self, kind: Kind, form: str, steps: list[str]) -> None:
        """A call during which other calls finish, the state changes and time passes.

        Unlike a held ``with`` call this one runs through ``form``'s own fast path, so a
        success that arrives after a transition must leave the new period's counts alone.
        """

        def body(kind: Kind) -> str:
            for step in steps:
                if step == "reset":
                    self.manual(CLOSED)
                elif step == "force_open":
                    self.manual(FORCED_OPEN)
                elif step == "wait":
                    self.advance(10.0)
                else:
                    self.call(step, "call")
            return _run(kind)

        self._through(form, kind, body)

    def _through(self, form: str, kind: Kind, body: Callable[[Kind], str]) -> None:
        try:
            expected: int | None = self.model.admit()
        except Rejected:
            expected = None
        try:
            if form == "call":
                self.breaker.call(body, kind)
            elif form == "decorator":
                self.breaker(body)(kind)
            elif form == "resilient":
                resilient(breaker=self.breaker)(body)(kind)
            else:
                with self.breaker:
                    body(kind)
        except CircuitOpenError as error:
            rejection: CircuitOpenError | None = error
            raised = True
        except (ConnectionRefusedError, KeyboardInterrupt):
            rejection, raised = None, True
        else:
            rejection, raised = None, False
        if rejection is not None:
            assert expected is None, f"rejected a call the model admitted: {rejection}"
            assert rejection.name == "remote"
            assert rejection.state is self.model.state
            assert rejection.retry_after == self.model.retry_after()
            return
        assert raised == (kind != "success")
        assert expected is not None, "admitted a call the model rejected"
        self.model.record(expected, kind)

    @precondition(lambda self: len(self.in_flight) < self.MAX_IN_FLIGHT)
    @rule()
    def start(self) -> None:
        """Admit a call and hold it open across steps."""
        try:
            token: int | None = self.model.admit()
        except Rejected:
            token = None
        held = Held(self.breaker, token if token is not None else SKIP)
        try:
            held.enter()
        except CircuitOpenError:
            assert token is None, "rejected a held call the model admitted"
            return
        assert token is not None, "admitted a held call the model rejected"
        self.in_flight.append(held)

    @precondition(lambda self: bool(self.in_flight))
    @rule(index=st.integers(min_value=0, max_value=63), kind=st.sampled_from(KINDS))
    def finish(self, index: int, kind: Kind) -> None:
        """Finish one held call, maybe long after the state it was admitted in."""
        held = self.in_flight.pop(index % len(self.in_flight))
        held.finish(kind)
        self.model.record(held.token, kind)

    # ------------------------------------------------------------------ time, manual

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 40.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.now += seconds

    @rule(new=st.sampled_from([CLOSED, CLOSED, FORCED_OPEN, DISABLED, METRICS_ONLY]))
    def manual(self, new: CircuitState) -> None:
        """reset(), force_open(), disable() or metrics_only() (reset twice as often)."""
        control = {
            CLOSED: self.breaker.reset,
            FORCED_OPEN: self.breaker.force_open,
            DISABLED: self.breaker.disable,
            METRICS_ONLY: self.breaker.metrics_only,
        }
        control[new]()
        self.model.manual(new)

    # -------------------------------------------------------------------- invariants

    @invariant()
    def agrees_with_the_model(self) -> None:
        model = self.model
        snap = self.breaker.snapshot()
        assert self.breaker.state is snap.state is model.state
        assert snap.half_open_calls == (model.permits if model.state is HALF_OPEN else 0)
        assert snap.half_open_calls <= self.config.half_open_max_calls
        assert snap.consecutive_failures == model.consecutive
        window = model.window()
        assert (snap.calls, snap.failures) == (len(window), sum(window))
        assert snap.failure_rate == (sum(window) / len(window) if window else None)
        assert snap.rejected == model.rejected
        assert snap.retry_after == model.retry_after()
        assert snap.opened_at == model.opened_at
        assert (snap.reason is None) == (model.state is CLOSED)

    @invariant()
    def rules_that_always_hold(self) -> None:
        snap = self.breaker.snapshot()
        threshold = self.config.failure_threshold
        if snap.state is CLOSED and threshold is not None:
            assert snap.consecutive_failures < threshold
        if snap.state in {DISABLED, FORCED_OPEN}:
            assert (snap.calls, snap.consecutive_failures) == (0, 0)


# max_examples comes from the profile loaded in conftest.py (ci: 300, dev: 100).
_SETTINGS = settings(stateful_step_count=50)


class ConsecutiveMachine(BreakerMachine):
    config = BreakerConfig(failure_threshold=3, open_for=10, open_for_max=40)


class RateMachine(BreakerMachine):
    config = BreakerConfig(
        failure_rate=0.5, window=5, minimum_calls=3, open_for=10, half_open_timeout=15
    )


class TimeWindowMachine(BreakerMachine):
    config = BreakerConfig(
        failure_rate=0.6, window_seconds=5, minimum_calls=2, open_for=10, open_for_max=25
    )


class TrialsMachine(BreakerMachine):
    config = BreakerConfig(
        failure_threshold=2,
        half_open_max_calls=3,
        success_threshold=2,
        open_for=5,
        open_for_max=20,
        half_open_timeout=7,
    )


class BothRulesMachine(BreakerMachine):
    config = BreakerConfig(
        failure_threshold=4,
        failure_rate=0.75,
        window=8,
        minimum_calls=4,
        half_open_max_calls=2,
        success_threshold=2,
        open_for=10,
    )


TestConsecutive = ConsecutiveMachine.TestCase
TestConsecutive.settings = _SETTINGS
TestRate = RateMachine.TestCase
TestRate.settings = _SETTINGS
TestTimeWindow = TimeWindowMachine.TestCase
TestTimeWindow.settings = _SETTINGS
TestTrials = TrialsMachine.TestCase
TestTrials.settings = _SETTINGS
TestBothRules = BothRulesMachine.TestCase
TestBothRules.settings = _SETTINGS


def test_the_machines_run_the_profile_examples_with_50_steps() -> None:
    """The state machines run as many examples as the profile, 50 steps each."""
    assert _SETTINGS.stateful_step_count == 50
    assert _SETTINGS.max_examples == settings().max_examples
    assert settings.get_profile("ci").max_examples >= 200
