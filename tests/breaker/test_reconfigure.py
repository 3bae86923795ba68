"""Reconfiguring breakers in place: the state and counts stay, the new rules apply."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from resilience import BreakerConfig, BreakerRegistry, CircuitOpenError, CircuitState
from resilience.testing import FakeClock

CLOSED, OPEN = CircuitState.CLOSED, CircuitState.OPEN


def _down() -> None:
    raise ConnectionResetError("down")


class ReconfiguredRegistry(RuleBasedStateMachine):
    """A registry's breaker under calls and reconfigurations, beside a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.registry = BreakerRegistry(
            BreakerConfig(failure_threshold=3, open_for=10), clock=self.clock
        )
        self.threshold = 3
        self.streak = 0
        self.state = CLOSED

    @rule()
    def succeed(self) -> None:
        """A success resets the streak of a closed breaker; an open one refuses the call."""
        if self.state is OPEN:
            with pytest.raises(CircuitOpenError):
                self.registry.get("r").call(lambda: None)
            return
        self.registry.get("r").call(lambda: None)
        self.streak = 0

    @rule()
    def fail(self) -> None:
        """A failure counts towards the threshold in force."""
        if self.state is OPEN:
            with pytest.raises(CircuitOpenError):
                self.registry.get("r").call(_down)
            return
        with pytest.raises(ConnectionResetError):
            self.registry.get("r").call(_down)
        self.streak += 1
        if self.streak >= self.threshold:
            self.state, self.streak = OPEN, 0

    @rule(threshold=st.integers(min_value=1, max_value=8), pattern=st.booleans())
    def reconfigure(self, threshold: int, pattern: bool) -> None:
        """New rules, as the default or as a pattern's override: state and streak stay."""
        config = BreakerConfig(failure_threshold=threshold, open_for=10)
        if pattern:
            self.registry.reconfigure(overrides={"r*": config})
        else:
            self.registry.reconfigure(config)
        self.threshold = threshold

    @rule()
    def reset(self) -> None:
        """A manual reset closes the breaker and forgets the streak."""
        self.registry.get("r").reset()
        self.state, self.streak = CLOSED, 0

    @invariant()
    def agrees(self) -> None:
        """The breaker's state, streak and threshold are the model's."""
        if "r" not in self.registry:
            return
        breaker = self.registry.get("r")
        assert breaker.state is self.state
        assert breaker.config.failure_threshold == self.threshold
        if self.state is CLOSED:
            assert breaker.snapshot().consecutive_failures == self.streak


TestReconfiguredRegistry = ReconfiguredRegistry.TestCase
TestReconfiguredRegistry.settings = settings(max_examples=60, stateful_step_count=30)


def test_a_window_of_the_same_kind_keeps_its_counts_and_another_starts_empty() -> None:
    """The outcomes counted stay if the window is unchanged, and are dropped if it changes."""
    clock = FakeClock()
    rate = BreakerConfig(failure_rate=0.9, window=10, minimum_calls=10)
    registry = BreakerRegistry(rate, clock=clock)
    breaker = registry.get("r")
    for _ in range(3):
        with pytest.raises(ConnectionResetError):
            breaker.call(_down)
    registry.reconfigure(BreakerConfig(failure_rate=0.5, window=10, minimum_calls=4))
    assert (breaker.snapshot().calls, breaker.snapshot().failures) == (3, 3)
    with pytest.raises(ConnectionResetError):
        breaker.call(_down)
    assert breaker.state is OPEN  # 4 failures of 4 calls: the new rule, on the old counts
    breaker.reset()
    breaker.call(lambda: None)
    registry.reconfigure(BreakerConfig(failure_rate=0.5, window=20, minimum_calls=4))
    assert breaker.snapshot().calls == 0  # another length: the old counts do not fit
    registry.reconfigure(BreakerConfig(failure_threshold=2))
    assert breaker.fast_epoch is not None  # no window, nobody listening: the fast lane again


def test_an_invalid_reconfiguration_changes_nothing() -> None:
    """An override that cannot merge raises, and every breaker keeps its configuration."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=4))
    breaker = registry.get("a")
    with pytest.raises(ValueError, match=r"overrides\['b'\] inherits"):
        registry.reconfigure(
            BreakerConfig(failure_rate=0.5, window=10),
            overrides={"b": BreakerConfig(minimum_calls=50)},
        )
    with pytest.raises(TypeError, match="must be a BreakerConfig"):
        registry.reconfigure(overrides={"b": {"open_for": 1}})  # type: ignore[dict-item]
    assert breaker.config == BreakerConfig(failure_threshold=4)
    assert registry.config_for("zzz") == BreakerConfig(failure_threshold=4)
    with pytest.raises(TypeError, match="takes a BreakerConfig"):
        breaker.reconfigure({"open_for": 1})  # type: ignore[arg-type]


def test_breakers_kept_aside_while_open_are_reconfigured_too() -> None:
    """A full registry's open breakers, set aside from eviction, get the new configuration."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), max_breakers=2)
    opened = registry.get("a")
    with pytest.raises(ConnectionResetError):
        opened.call(_down)
    registry.get("b")
    registry.get("c")  # makes room: "a" is open, so it is kept aside, "b" goes
    assert "a" in registry
    registry.reconfigure(BreakerConfig(failure_threshold=6, open_for=5))
    assert opened.config.failure_threshold == 6
    assert opened.state is OPEN
