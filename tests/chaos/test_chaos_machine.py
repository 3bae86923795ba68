"""A chaos strategy and its switch, against a plain model: dice rolled only while on."""

from __future__ import annotations

import random

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from resilience.chaos import ChaosSwitch, InjectFault, InjectResult


class ChaosAgainstModel(RuleBasedStateMachine):
    """Calls through a fault and a result injection that share one switch."""

    def __init__(self) -> None:
        super().__init__()
        self.switch = ChaosSwitch("model")
        self.fault = InjectFault(ConnectionError, rate=0.3, switch=self.switch, seed=1)
        self.result = InjectResult("stale", rate=0.5, switch=self.switch, seed=2)
        self.call = self.fault(self.result(lambda: "fresh"))
        self.on = False
        self.fault_dice = random.Random(1)
        self.result_dice = random.Random(2)
        self.rolled = [0, 0]
        self.injected = [0, 0]

    @rule()
    def enable(self) -> None:
        """Turn the switch on (again, perhaps)."""
        self.switch.enable()
        self.on = True

    @rule()
    def disable(self) -> None:
        """Turn the switch off (again, perhaps)."""
        self.switch.disable()
        self.on = False

    @rule(calls=st.integers(min_value=1, max_value=5))
    def call_through(self, calls: int) -> None:
        """Calls give what the model's dice say: a fault, the stale result, or the call's."""
        for _ in range(calls):
            expected = "fresh"
            if self.on:
                self.rolled[0] += 1
                if self.fault_dice.random() < 0.3:
                    self.injected[0] += 1
                    expected = "ConnectionError"
                else:
                    self.rolled[1] += 1
                    if self.result_dice.random() < 0.5:
                        self.injected[1] += 1
                        expected = "stale"
            try:
                got = self.call()
            except ConnectionError:
                got = "ConnectionError"
            assert got == expected

    @invariant()
    def counts_and_state_agree(self) -> None:
        """The switch, the rolls and the injections are the model's."""
        assert self.switch.enabled == self.on
        assert [self.fault.rolled, self.result.rolled] == self.rolled
        assert [self.fault.injected, self.result.injected] == self.injected
        for strategy in (self.fault, self.result):
            (measurement,) = strategy.measurements()
            assert measurement.healthy == (not self.on)


TestChaosAgainstModel = ChaosAgainstModel.TestCase
