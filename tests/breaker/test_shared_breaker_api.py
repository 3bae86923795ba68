"""The breaker's shared-state API: the only surface a BreakerStore's link touches."""

from __future__ import annotations

import pytest

from resilience import (
    BreakerConfig,
    CallRejected,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Outcome,
)
from resilience._breaker.store import SharedBreaker
from resilience.testing import FakeClock

OPEN, CLOSED, HALF_OPEN = CircuitState.OPEN, CircuitState.CLOSED, CircuitState.HALF_OPEN


class RecordingLink:
    """A BreakerLink that remembers what it was told and admits as it is set up to."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.moves: list[tuple[CircuitState, CircuitState, bool]] = []
        self.trials: list[Outcome] = []
        self.outcomes: list[bool] = []
        self.mode = "local"

    def admit(self) -> int:
        if self.mode == "unrecorded":
            return self.breaker.admit_unrecorded()
        if self.mode == "trial":
            token = self.breaker.claim_trial()
            assert token is not None
            return token
        if self.mode == "reject":
            raise self.breaker.reject()
        return self.breaker.admit_locally()

    def outcome(self, failed: bool, slow: bool) -> None:
        self.outcomes.append(failed)

    def trial(self, outcome: Outcome, slow: bool, exc: BaseException | None) -> None:
        self.trials.append(outcome)

    def moved(self, old: CircuitState, new: CircuitState, reason: str, *, shared: bool) -> None:
        self.moves.append((old, new, shared))


def linked(clock: FakeClock, *, threshold: int = 2) -> tuple[CircuitBreaker, RecordingLink]:
    config = BreakerConfig(failure_threshold=threshold, open_for=10.0)
    breaker = CircuitBreaker("api", config, clock=clock)
    link = RecordingLink(breaker)
    breaker.link = link
    return breaker, link


def ok() -> str:
    return "ok"


def test_a_link_is_set_and_cleared_through_the_link_property(fake_clock: FakeClock) -> None:
    """The store sets breaker.link and sets it back to None; the breaker then stands alone."""
    breaker, link = linked(fake_clock)
    assert breaker.link is link
    breaker.link = None
    assert breaker.link is None
    assert breaker.clock is fake_clock


def test_apply_shared_opens_for_what_remains_of_the_fleet_period(fake_clock: FakeClock) -> None:
    """A remote OPEN with 4 s left of 10 ends 4 s from now, and is reported as shared."""
    breaker, link = linked(fake_clock)
    breaker.apply_shared(OPEN, remaining=4.0, period=10.0, reason="the fleet tripped")
    assert breaker.state is OPEN
    assert breaker.open_until == pytest.approx(fake_clock.monotonic() + 4.0)
    assert link.moves == [(CLOSED, OPEN, True)]
    assert breaker.snapshot().reason == "the fleet tripped"
    breaker.apply_shared(CLOSED, remaining=0.0, period=10.0, reason="closed by the fleet")
    assert breaker.state is CLOSED
    assert breaker.open_until is None


def test_apply_shared_leaves_a_manual_state_alone(fake_clock: FakeClock) -> None:
    """force_open() is this process's own override: the fleet's CLOSED does not undo it."""
    breaker, link = linked(fake_clock)
    breaker.force_open()
    breaker.apply_shared(CLOSED, remaining=0.0, period=10.0, reason="closed by the fleet")
    assert breaker.state is CircuitState.FORCED_OPEN
    assert all(not shared for _, _, shared in link.moves)


def test_claim_trial_counts_a_permit_only_while_half_open(fake_clock: FakeClock) -> None:
    """A permit granted by the fleet is the breaker's own trial; none outside HALF_OPEN."""
    breaker, link = linked(fake_clock)
    assert breaker.claim_trial() is None
    breaker.apply_shared(HALF_OPEN, remaining=0.0, period=10.0, reason="trial time")
    link.mode = "trial"
    assert breaker.call(ok) == "ok"
    assert link.trials == [Outcome.SUCCESS]
    assert breaker.state is CLOSED  # success_threshold=1: the trial closed it


def test_reject_counts_and_reports_a_rejection_the_fleet_decided(fake_clock: FakeClock) -> None:
    """A fleet's refusal is counted in the snapshot and delivered as CallRejected."""
    events: list[object] = []
    breaker = CircuitBreaker("api", clock=fake_clock, listeners=[events.append])
    breaker.apply_shared(OPEN, remaining=3.0, period=10.0, reason="the fleet tripped")
    error = breaker.reject()
    assert isinstance(error, CircuitOpenError)
    assert error.retry_after == pytest.approx(3.0)
    mine = CircuitOpenError("api", OPEN, 1.0, "store unreachable")
    assert breaker.reject(mine) is mine
    assert breaker.snapshot().rejected == 2
    assert sum(isinstance(e, CallRejected) for e in events) == 2


def test_a_link_rejection_is_raised_from_the_call(fake_clock: FakeClock) -> None:
    """A link that rejects makes the call raise CircuitOpenError without running it."""
    breaker, link = linked(fake_clock)
    breaker.apply_shared(OPEN, remaining=5.0, period=10.0, reason="the fleet tripped")
    link.mode = "reject"
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    assert breaker.snapshot().rejected == 1


def test_an_unrecorded_admission_lets_the_call_through_and_counts_nothing(
    fake_clock: FakeClock,
) -> None:
    """The token of admit_unrecorded() runs the call and records no outcome."""
    breaker, link = linked(fake_clock)
    breaker.apply_shared(OPEN, remaining=5.0, period=10.0, reason="the fleet tripped")
    link.mode = "unrecorded"
    assert breaker.call(ok) == "ok"
    assert breaker.state is OPEN
    assert link.trials == []


def test_admit_locally_decides_by_the_breaker_own_state(fake_clock: FakeClock) -> None:
    """Once the open period is over, the local decision lets a trial call through."""
    breaker, link = linked(fake_clock)
    breaker.apply_shared(OPEN, remaining=5.0, period=10.0, reason="the fleet tripped")
    with pytest.raises(CircuitOpenError):
        breaker.call(ok)
    fake_clock.advance(5.0)
    assert breaker.call(ok) == "ok"
    assert breaker.state is CLOSED
    assert link.trials == [Outcome.SUCCESS]


def test_read_shared_sees_the_state_and_the_run_of_failures(fake_clock: FakeClock) -> None:
    """read(state, streak) runs with the breaker's current state and failures in a row."""
    breaker, link = linked(fake_clock, threshold=3)

    def boom() -> None:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    assert breaker.read_shared(lambda state, streak: (state, streak)) == (CLOSED, 2)
    assert link.outcomes == [True, True]


def test_a_circuit_breaker_is_a_shared_breaker(fake_clock: FakeClock) -> None:
    """CircuitBreaker has every member of the SharedBreaker protocol stores are typed by."""
    breaker: SharedBreaker = CircuitBreaker("api", clock=fake_clock)  # mypy checks the rest
    members = [n for n in vars(SharedBreaker) if not n.startswith("_")]
    assert members
    assert all(hasattr(breaker, name) for name in members)
