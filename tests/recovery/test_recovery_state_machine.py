"""RecoveryManager beside a plain model: stages, restart budget, suspend/resume, escalation.

The model is the specification written out simply: which resolution each trigger gets,
when each action runs, who is told, and what the statistics say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from resilience import (
    CallbackNotifier,
    Incident,
    RecoveryManager,
    Resolution,
    RestartBudget,
    Stage,
)
from resilience.testing import FakeClock

STAGES = [Stage(delay=0, attempts=1), Stage(delay=30, attempts=2, interval=5)]
OFFSETS = [0.0, 30.0, 35.0]  # when each action run starts, from the trigger
BUDGET = RestartBudget(max_recoveries=3, period=100, reset_after=150)
COMPONENTS = ("db", "cache")


@dataclass
class Component:
    suspended: bool = False
    exhausted: bool = False
    starts: list[float] = field(default_factory=list)
    last_end: float | None = None
    resolutions: list[Resolution] = field(default_factory=list)


class RecoveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.told: list[Incident] = []
        self.manager = RecoveryManager(
            stages=STAGES,
            budget=BUDGET,
            clock=self.clock,
            notifiers=[CallbackNotifier(self.told.append)],
        )
        self.plans: dict[str, int | None] = {}
        self.runs: dict[str, list[float]] = {}
        for name in COMPONENTS:
            self.runs[name] = []
            self.manager.register(name, actions=[self._action(name)])
        self.model = {name: Component() for name in COMPONENTS}
        self.now = 0.0
        self.notified = 0

    def _action(self, name: str) -> Callable[[], None]:
        def restart() -> None:
            self.runs[name].append(self.clock.monotonic())
            heals_at = self.plans[name]
            if heals_at is None or len(self.runs[name]) < heals_at:
                raise ConnectionRefusedError(111, "Connection refused")

        return restart

    # ------------------------------------------------------------------ the model

    def expect(self, name: str, heals_at: int | None) -> tuple[Resolution, int, bool]:
        """The resolution, the number of action runs, and whether anyone is told."""
        comp, now = self.model[name], self.now
        if comp.suspended:
            return Resolution.SUSPENDED, 0, False
        if comp.last_end is not None and now - comp.last_end >= BUDGET.reset_after:
            comp.starts, comp.exhausted = [], False
        comp.starts = [s for s in comp.starts if now - s < BUDGET.period]
        if comp.exhausted or len(comp.starts) >= BUDGET.max_recoveries:
            first = not comp.exhausted
            comp.exhausted = True
            return Resolution.BUDGET_EXHAUSTED, 0, first
        comp.starts.append(now)
        if heals_at is None:
            return Resolution.ESCALATED, len(OFFSETS), True
        return Resolution.RECOVERED, heals_at, False

    # ---------------------------------------------------------------------- rules

    @rule(
        name=st.sampled_from(COMPONENTS),
        heals_at=st.sampled_from([1, 2, 3, None]),
    )
    def incident(self, name: str, heals_at: int | None) -> None:
        resolution, runs, notify = self.expect(name, heals_at)
        self.plans[name] = heals_at
        self.runs[name] = []
        start = self.now

        incident = asyncio.run(self.manager.recover(name, reason="down"))

        assert incident.resolution is resolution
        assert self.runs[name] == [start + o for o in OFFSETS[:runs]]
        assert len(incident.actions) == runs
        recovered = resolution is Resolution.RECOVERED
        assert [a.ok for a in incident.actions] == [
            recovered and i == runs - 1 for i in range(runs)
        ]
        end = start + (OFFSETS[runs - 1] if runs else 0.0)
        assert self.clock.monotonic() == end
        assert incident.duration == end - start
        self.notified += notify
        assert len(self.told) == self.notified
        comp = self.model[name]
        comp.last_end = self.now = end
        comp.resolutions.append(resolution)

    @rule(seconds=st.sampled_from([1.0, 10.0, 40.0, 60.0, 100.0, 150.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.now += seconds

    @rule(name=st.sampled_from(COMPONENTS))
    def suspend(self, name: str) -> None:
        self.manager.suspend(name)
        self.model[name].suspended = True

    @rule(name=st.sampled_from(COMPONENTS))
    def resume(self, name: str) -> None:
        self.manager.resume(name)
        comp = self.model[name]
        comp.suspended = comp.exhausted = False
        comp.starts = []

    # ----------------------------------------------------------------- invariants

    @invariant()
    def history_and_statistics_agree(self) -> None:
        stats = self.manager.stats()
        for name, comp in self.model.items():
            kept = [i.resolution for i in self.manager.incidents(name)]
            assert kept == comp.resolutions
            recovered = kept.count(Resolution.RECOVERED)
            escalated = kept.count(Resolution.ESCALATED) + kept.count(Resolution.BUDGET_EXHAUSTED)
            s = stats[name]
            assert (s.incidents, s.recovered, s.escalated) == (len(kept), recovered, escalated)
            judged = recovered + escalated
            assert s.success_rate == (recovered / judged if judged else None)
            assert self.manager.suspended(name) is comp.suspended
        assert self.manager.running() == {}


TestRecovery = RecoveryMachine.TestCase
TestRecovery.settings = settings(stateful_step_count=30)
