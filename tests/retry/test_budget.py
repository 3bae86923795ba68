"""RetryBudget: retries bounded by a share of calls over a sliding window."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import ValidationError

from resilience import BudgetSnapshot, RetryBudget
from resilience.testing import FakeClock


def test_retries_are_limited_to_the_ratio_plus_the_floor(fake_clock: FakeClock) -> None:
    """With 100 calls, ratio 0.2 and a floor of 1/s over 10 s, 30 retries are allowed."""
    budget = RetryBudget(ratio=0.2, min_per_second=1, window=10, clock=fake_clock)
    for _ in range(100):
        budget.record_call()
    granted = sum(budget.try_retry() for _ in range(100))
    assert granted == 30
    assert budget.snapshot() == BudgetSnapshot(calls=100, retries=30, allowed=30.0, rejected=70)


def test_the_window_slides(fake_clock: FakeClock) -> None:
    """Calls and retries older than the window no longer count."""
    budget = RetryBudget(ratio=0.5, min_per_second=0, window=10, clock=fake_clock)
    for _ in range(10):
        budget.record_call()
    assert sum(budget.try_retry() for _ in range(10)) == 5
    fake_clock.advance(10)
    # Refusals are counted for as long as the budget lives, not over the window.
    assert budget.snapshot() == BudgetSnapshot(calls=0, retries=0, allowed=0.0, rejected=5)
    assert not budget.try_retry()
    budget.record_call()
    budget.record_call()
    assert budget.try_retry()


def test_a_quiet_service_can_still_retry(fake_clock: FakeClock) -> None:
    """The floor allows min_per_second * window retries with no calls at all."""
    budget = RetryBudget(ratio=0.2, min_per_second=0.5, window=10, clock=fake_clock)
    assert sum(budget.try_retry() for _ in range(10)) == 5


def test_threads_never_take_more_than_the_budget(fake_clock: FakeClock) -> None:
    """Concurrent try_retry calls grant exactly the allowance, never more."""
    budget = RetryBudget(ratio=0.1, min_per_second=0, window=10, clock=fake_clock)
    for _ in range(1000):
        budget.record_call()
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            ok = budget.try_retry()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(granted) == 100


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"ratio": -0.1}, "ratio"),
        ({"ratio": 1.5}, "ratio"),
        ({"min_per_second": -1}, "min_per_second"),
        ({"window": 0}, "window"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, Any], name: str) -> None:
    """ratio outside [0, 1], a negative floor or an empty window is refused by name."""
    with pytest.raises(ValidationError) as info:
        RetryBudget(**fields)
    assert {e["loc"][0] for e in info.value.errors()} == {name}


class BudgetMachine(RuleBasedStateMachine):
    """The budget beside a model that keeps every entry with its time bucket."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.budget = RetryBudget(clock=self.clock)
        self.ratio = 0.2
        self.floor = 100.0
        self.width = 1.0
        self.entries: list[tuple[int, bool]] = []  # (bucket, is_retry)

    @initialize(
        ratio=st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0]),
        min_per_second=st.sampled_from([0.0, 0.1, 1.0]),
        window=st.sampled_from([1.0, 5.0, 10.0]),
    )
    def build(self, ratio: float, min_per_second: float, window: float) -> None:
        self.budget = RetryBudget(
            ratio=ratio, min_per_second=min_per_second, window=window, clock=self.clock
        )
        self.ratio, self.floor, self.width = ratio, min_per_second * window, window / 10

    def _live(self) -> list[bool]:
        head = int(self.clock.monotonic() // self.width)
        return [retry for bucket, retry in self.entries if bucket > head - 10]

    def _bucket(self) -> int:
        return int(self.clock.monotonic() // self.width)

    @rule()
    def call(self) -> None:
        """A first attempt is counted."""
        self.budget.record_call()
        self.entries.append((self._bucket(), False))

    @rule()
    def retry(self) -> None:
        """A retry is granted exactly when the model allows it."""
        live = self._live()
        retries = sum(live)
        calls = len(live) - retries
        allowed = retries + 1 <= self.ratio * calls + self.floor
        assert self.budget.try_retry() is allowed
        if allowed:
            self.entries.append((self._bucket(), True))

    @rule(seconds=st.sampled_from([0.05, 0.3, 1.0, 2.5, 7.0, 20.0]))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        self.clock.advance(seconds)

    @invariant()
    def snapshot_matches(self) -> None:
        """The snapshot counts what the model holds."""
        live = self._live()
        retries = sum(live)
        snap = self.budget.snapshot()
        assert (snap.calls, snap.retries) == (len(live) - retries, retries)
        assert snap.allowed == pytest.approx(self.ratio * (len(live) - retries) + self.floor)


TestBudgetMachine = BudgetMachine.TestCase
