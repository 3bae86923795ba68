"""CircuitBreaker run beside a plain model by a hypothesis state machine.

The model is the specification written as simply as possible; after every step the real
breaker and the model must agree on the state, the half-open permits in flight, the
counts, the rejections and when a trial is allowed. Calls held open across steps (each
in its own context, as concurrent callers would be) exercise stale outcomes and exact
half-open permits.
"""

from __future__ import annotations

import contextvars
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from resilience import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Event,
    StateChanged,
)
from resilience.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, DISABLED = CircuitState.FORCED_OPEN, CircuitState.DISABLED
METRICS_ONLY = CircuitState.METRICS_ONLY
SKIP = -1

SUCCESS, FAILURE, IGNORED, PERMANENT = "success", "failure", "ignored", "permanent"


class Rejected(Exception):  # noqa: N818 - the model's CircuitOpenError
    pass


@dataclass
class Model:
    """The breaker's rules, written out plainly."""

    config: BreakerConfig
    now: float = 0.0
    state: CircuitState = CLOSED
    gen: int = 0
    consecutive: int = 0
    window: deque[bool] = field(default_factory=deque)
    opened_at: float | None = None
    open_period: float = 0.0
    half_open_since: float = 0.0
    permits: int = 0
    trial_successes: int = 0
    rejected: int = 0
    transitions: int = 0

    def __post_init__(self) -> None:
        self.open_period = self.config.open_for

    def to(self, new: CircuitState) -> None:
        old = self.state
        self.gen += 1
        self.transitions += 1
        self.state = new
        self.permits = 0
        self.trial_successes = 0
        if new is OPEN:
            if old is HALF_OPEN and self.config.open_for_max is not None:
                self.open_period = min(self.open_period * 2, self.config.open_for_max)
            self.opened_at = self.now
        elif new is HALF_OPEN:
            self.half_open_since = self.now
        else:
            self.opened_at = None
            self.open_period = self.config.open_for
            self.consecutive = 0
            self.window.clear()

    def admit(self) -> int:
        if self.state in (CLOSED, METRICS_ONLY):
            return self.gen
        if self.state is DISABLED:
            return SKIP
        timeout = self.config.half_open_timeout
        if self.state is OPEN and self.now >= self.opened_at + self.open_period:  # type: ignore[operator]
            self.to(HALF_OPEN)
        elif (
            self.state is HALF_OPEN
            and timeout is not None
            and self.now - self.half_open_since >= timeout
        ):
            self.to(OPEN)
        if self.state is HALF_OPEN and self.permits < self.config.half_open_max_calls:
            self.permits += 1
            return self.gen
        self.rejected += 1
        raise Rejected

    def record(self, token: int, outcome: str) -> None:
        counts = outcome in (FAILURE, SUCCESS) or (
            outcome == PERMANENT and self.config.count_permanent
        )
        failed = outcome == FAILURE or (outcome == PERMANENT and self.config.count_permanent)
        if token != self.gen:  # skipped (SKIP is never a generation) or stale
            return
        if self.state is HALF_OPEN:
            self.permits -= 1
            if failed:
                self.to(OPEN)
            elif outcome == SUCCESS:
                self.trial_successes += 1
                if self.trial_successes >= self.config.success_threshold:
                    self.to(CLOSED)
            return
        if not counts:
            return
        self.consecutive = self.consecutive + 1 if failed else 0
        if self.config.uses_window:
            self.window.append(failed)
            if len(self.window) > self.config.window_size:
                self.window.popleft()
        if self.state is CLOSED and self.trips():
            self.to(OPEN)

    def trips(self) -> bool:
        config = self.config
        if config.failure_threshold is not None and self.consecutive >= config.failure_threshold:
            return True
        calls = len(self.window)
        if not config.uses_window or calls < config.minimum_calls:
            return False
        return config.failure_rate is not None and sum(self.window) >= config.failure_rate * calls

    def manual(self, new: CircuitState) -> None:
        self.to(new)
        if new is CLOSED:
            self.rejected = 0

    def retry_after(self) -> float | None:
        if self.state is OPEN:
            return max(0.0, self.opened_at + self.open_period - self.now)  # type: ignore[operator]
        if self.state is HALF_OPEN:
            timeout = self.config.half_open_timeout
            return None if timeout is None else max(0.0, self.half_open_since + timeout - self.now)
        if self.state is FORCED_OPEN:
            return None
        return 0.0


def _error(outcome: str) -> BaseException | None:
    return {
        SUCCESS: None,
        FAILURE: ConnectionResetError("reset by peer"),
        IGNORED: KeyboardInterrupt(),
        PERMANENT: PermissionError(13, "denied"),
    }[outcome]


@st.composite
def configs(draw: st.DrawFn) -> BreakerConfig:
    """Breaker configurations of both trip modes, small enough to trip often."""
    open_for = draw(st.sampled_from([5.0, 10.0, 30.0]))
    common: dict[str, Any] = {
        "open_for": open_for,
        "open_for_max": draw(st.sampled_from([None, open_for * 4])),
        "half_open_max_calls": draw(st.integers(1, 3)),
        "success_threshold": draw(st.integers(1, 3)),
        "half_open_timeout": draw(st.sampled_from([None, 3.0, 20.0])),
        "count_permanent": draw(st.booleans()),
    }
    if draw(st.sampled_from(["consecutive", "rate"])) == "consecutive":
        return BreakerConfig(failure_threshold=draw(st.integers(1, 4)), **common)
    return BreakerConfig(
        failure_rate=draw(st.sampled_from([0.25, 0.5, 1.0])),
        window=draw(st.integers(1, 6)),
        minimum_calls=draw(st.integers(1, 6)),
        failure_threshold=draw(st.sampled_from([None, 3])),
        **common,
    )


outcomes = st.sampled_from([SUCCESS, FAILURE, IGNORED, PERMANENT])


class BreakerMachine(RuleBasedStateMachine):
    """Real breaker and model, step by step."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.events: list[Event] = []
        self.breaker = CircuitBreaker("m", clock=self.clock)
        self.model = Model(BreakerConfig())
        self.in_flight: list[tuple[contextvars.Context, int]] = []

    @initialize(config=configs(), listen=st.booleans())
    def build(self, config: BreakerConfig, listen: bool) -> None:
        # With a listener the breaker reads the clock per call and leaves its lean fast
        # path; without one the fast path is used: both must follow the model.
        listeners = [self.events.append] if listen else []
        self.breaker = CircuitBreaker("m", config, clock=self.clock, listeners=listeners)
        self.model = Model(config)
        self.listen = listen

    def _run(self, outcome: str) -> None:
        error = _error(outcome)

        def call() -> None:
            if error is not None:
                raise error

        try:
            expected: int | None = self.model.admit()
        except Rejected:
            expected = None
        try:
            self.breaker.call(call)
        except CircuitOpenError:
            assert expected is None, "the breaker rejected a call the model admits"
            return
        except (ConnectionResetError, KeyboardInterrupt, PermissionError):
            pass
        assert expected is not None, "the breaker admitted a call the model rejects"
        self.model.record(expected, outcome)

    @rule(outcome=outcomes)
    def call(self, outcome: str) -> None:
        """A call that finishes within the step."""
        self._run(outcome)

    @precondition(lambda self: len(self.in_flight) < 6)
    @rule()
    def start_call(self) -> None:
        """A call admitted now that finishes in a later step."""
        context = contextvars.copy_context()
        try:
            expected = self.model.admit()
        except Rejected:
            with pytest.raises(CircuitOpenError):
                context.run(self.breaker.__enter__)
            return
        context.run(self.breaker.__enter__)
        self.in_flight.append((context, expected))

    @precondition(lambda self: bool(self.in_flight))
    @rule(index=st.integers(0, 5), outcome=outcomes)
    def finish_call(self, index: int, outcome: str) -> None:
        """One of the calls in flight finishes, however stale its admission."""
        context, token = self.in_flight.pop(index % len(self.in_flight))
        error = _error(outcome)
        context.run(
            self.breaker.__exit__, type(error) if error else None, error, None
        )
        self.model.record(token, outcome)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0]))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        self.clock.advance(seconds)
        self.model.now = self.clock.monotonic()

    @rule(action=st.sampled_from(["force_open", "disable", "metrics_only", "reset"]))
    def manual(self, action: str) -> None:
        """An operator sets the state by hand."""
        getattr(self.breaker, action)()
        self.model.manual(
            {
                "force_open": FORCED_OPEN,
                "disable": DISABLED,
                "metrics_only": METRICS_ONLY,
                "reset": CLOSED,
            }[action]
        )

    @invariant()
    def agrees_with_the_model(self) -> None:
        """State, permits, counts, rejections and retry_after match the model."""
        snap = self.breaker.snapshot()
        model = self.model
        assert snap.state is model.state
        assert self.breaker.state is model.state
        assert snap.half_open_calls == (model.permits if model.state is HALF_OPEN else 0)
        assert snap.consecutive_failures == model.consecutive
        assert snap.rejected == model.rejected
        assert snap.opened_at == model.opened_at
        assert snap.retry_after == pytest.approx(model.retry_after())
        if model.config.uses_window:
            assert snap.calls == len(model.window)
            assert snap.failures == sum(model.window)
        assert (snap.reason is None) == (model.state is CLOSED)

    @invariant()
    def permits_are_bounded(self) -> None:
        """Half-open trials in flight never exceed half_open_max_calls."""
        assert 0 <= self.model.permits <= self.model.config.half_open_max_calls

    @invariant()
    def every_transition_is_reported(self) -> None:
        """A listener sees exactly one StateChanged per transition."""
        if getattr(self, "listen", False):
            changes = [e for e in self.events if isinstance(e, StateChanged)]
            assert len(changes) == self.model.transitions


TestBreakerMachine = BreakerMachine.TestCase
