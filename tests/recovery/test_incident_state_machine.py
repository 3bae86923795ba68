"""The incident lifecycle and escalation beside a plain model, on a fake clock, in SQLite.

Incidents are opened by failing recoveries and resolved by working ones or by people;
they are acknowledged (before or after their response target), re-opened, made more
urgent, checked against their targets, and the store is closed and opened again (a
restart) in between. The model says, for each incident, its state, its severity, the
escalation tiers told, the breaches recorded, and what a notifier keeping alerts of its
own (as PagerDuty does) heard of it, and with what success, when it was down at times.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from resilience import SQLiteIncidentStore
from resilience.recovery import (
    CallbackNotifier,
    EscalationPolicy,
    EscalationTier,
    Incident,
    IncidentError,
    IncidentPolicy,
    RecoveryManager,
    Severity,
    SeverityTargets,
    Stage,
    Targets,
)
from resilience.recovery import _manager as manager_module
from resilience.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import Callable

# Short targets, so that a few steps of the clock cross them.
TARGETS = {"P0": (60, 600), "P1": (120, 1200), "P2": (300, 3000), "P3": (600, 6000)}
AFTERS = (0, 300)  # tier 1 when the response target passes (raising the severity), tier 2 later
RAISES = (True, False)
DOWN = "ConnectionRefusedError: [Errno 111] the alert service is down"


@dataclass
class Model:
    """One incident as the specification sees it."""

    state: str = "open"
    severity: int = 2  # P2
    opened: float = 0.0
    tier: int = 0
    breaches: list[str] = field(default_factory=list)  # targets, in the order recorded
    breached_now: set[str] = field(default_factory=set)  # since the last opening
    acked_by: str | None = None

    def check(self, now: float) -> list[int]:
        """Record breaches, escalate; the tiers reached."""
        reached: list[int] = []
        if self.state == "resolved":
            return reached
        while True:
            response, resolution = TARGETS[f"P{self.severity}"]
            due = self.opened + response
            if self.state == "open" and now >= due and "response" not in self.breached_now:
                self.breached_now.add("response")
                self.breaches.append("response")
            if now >= self.opened + resolution and "resolution" not in self.breached_now:
                self.breached_now.add("resolution")
                self.breaches.append("resolution")
            k = self.tier
            if self.state != "open" or k >= len(AFTERS) or now < due + AFTERS[k]:
                return reached
            reached.append(k)
            self.tier += 1
            if RAISES[k] and self.severity > 0:
                self.severity -= 1


class Keeper:
    """A notifier that keeps alerts of its own, as PagerDuty does; it can be down."""

    min_severity = Severity.P3

    def __init__(self) -> None:
        self.heard: dict[str, list[str]] = {}
        self.down = False

    async def _hear(self, action: str, incident: Incident) -> None:
        self.heard.setdefault(incident.id, []).append(action)
        if self.down:
            raise ConnectionRefusedError(111, "the alert service is down")

    async def notify(self, incident: Incident) -> None:
        await self._hear("trigger", incident)

    async def acknowledge(self, incident: Incident) -> None:
        await self._hear("acknowledge", incident)

    async def resolve(self, incident: Incident) -> None:
        await self._hear("resolve", incident)

    def __repr__(self) -> str:
        return "Keeper()"


class LifecycleMachine(RuleBasedStateMachine):
    clocks: list[FakeClock]  # the clock of each run, for the wall time (see the test)

    def __init__(self) -> None:
        super().__init__()
        # In memory where the system has a tmpfs: every commit of the store is synced.
        shm = Path("/dev/shm")  # noqa: S108 - a private folder is made in it
        self.folder = Path(tempfile.mkdtemp(prefix="incidents-", dir=shm if shm.is_dir() else None))
        self.path = self.folder / "incidents.db"
        self.clock = FakeClock()
        self.clocks.append(self.clock)
        self.now = 0.0
        self.told: tuple[list[Incident], list[Incident]] = ([], [])
        self.expected_told = [0, 0]
        self.tiers = tuple(
            EscalationTier(
                after=after, raise_severity=raises, notifiers=(CallbackNotifier(told.append),)
            )
            for after, raises, told in zip(AFTERS, RAISES, self.told, strict=True)
        )
        self.heals = False
        self.keeper = Keeper()
        self.heard: dict[str, list[tuple[str, bool]]] = {}  # what the keeper heard, told ok
        self.paged: set[str] = set()  # told of: by the first notification, or escalated
        self.store = SQLiteIncidentStore(self.path)
        self.manager = self._manager()
        self.model: dict[str, Model] = {}
        self.ids: list[str] = []

    def _manager(self) -> RecoveryManager:
        targets = Targets.model_validate(
            {s: SeverityTargets(response=r, resolution=t) for s, (r, t) in TARGETS.items()}
        )
        manager = RecoveryManager(
            clock=self.clock,
            stages=[Stage()],
            store=self.store,
            notifiers=[self.keeper],
            incidents=IncidentPolicy(
                targets=targets, escalation=EscalationPolicy(tiers=self.tiers)
            ),
        )

        async def restart() -> None:
            if not self.heals:
                raise ConnectionRefusedError(111, "Connection refused")

        manager.register("db", actions=[restart], severity="P2")
        return manager

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---------------------------------------------------------------------- rules

    @rule()
    def recovery_fails(self) -> None:
        self.heals = False
        incident = asyncio.run(self.manager.recover("db"))
        self.ids.append(incident.id)
        self.model[incident.id] = Model(opened=self.now)
        self.heard[incident.id] = [("trigger", not self.keeper.down)]
        self.paged.add(incident.id)

    def _announced(self, iid: str, action: str) -> None:
        if iid in self.paged:  # only an incident someone was told of is announced
            self.heard[iid].append((action, not self.keeper.down))

    @rule(down=st.booleans())
    def the_alert_service_goes(self, down: bool) -> None:
        self.keeper.down = down

    @rule()
    def recovery_works(self) -> None:
        self.heals = True
        incident = asyncio.run(self.manager.recover("db"))
        for iid, m in self.model.items():
            if m.state != "resolved":
                m.state = "resolved"
                self._announced(iid, "resolve")
        self.ids.append(incident.id)
        self.model[incident.id] = Model(state="resolved", opened=self.now)
        self.heard[incident.id] = []  # it recovered: nobody was paged, nothing to resolve

    @rule(seconds=st.sampled_from([1.0, 60.0, 119.0, 300.0, 1000.0]), check=st.booleans())
    def advance(self, seconds: float, check: bool) -> None:
        self.clock.advance(seconds)
        self.now += seconds
        if check:
            self.check_targets()

    @rule()
    def check_targets(self) -> None:
        asyncio.run(self.manager.check_targets())
        for iid, m in self.model.items():
            for k in m.check(self.now):
                self.expected_told[k] += 1
                self.paged.add(iid)

    def _in(self, state: str, pick: int) -> str:
        ids = [i for i in self.ids if self.model[i].state == state]
        return ids[pick % len(ids)]

    def _some(self, state: str) -> bool:
        return any(m.state == state for m in self.model.values())

    @precondition(lambda self: self._some("open"))
    @rule(pick=st.integers(0, 100), who=st.sampled_from(["alice", "bob"]))
    def acknowledge_an_open_one(self, pick: int, who: str) -> None:
        self.acknowledge(self.ids.index(self._in("open", pick)), who)

    @precondition(lambda self: self._some("resolved"))
    @rule(pick=st.integers(0, 100))
    def reopen_a_resolved_one(self, pick: int) -> None:
        self.reopen(self.ids.index(self._in("resolved", pick)))

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 100), who=st.sampled_from(["alice", "bob"]))
    def acknowledge(self, pick: int, who: str) -> None:
        iid = self.ids[pick % len(self.ids)]
        m = self.model[iid]
        if m.state == "open":
            self.manager.acknowledge(iid, by=who)
            m.state, m.acked_by = "acknowledged", who
            self._announced(iid, "acknowledge")
        else:
            self._refused(lambda: self.manager.acknowledge(iid, by=who))

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 100))
    def resolve(self, pick: int) -> None:
        iid = self.ids[pick % len(self.ids)]
        m = self.model[iid]
        if m.state != "resolved":
            self.manager.resolve(iid, by="alice")
            m.state = "resolved"
            self._announced(iid, "resolve")
        else:
            self._refused(lambda: self.manager.resolve(iid, by="alice"))

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 100))
    def reopen(self, pick: int) -> None:
        iid = self.ids[pick % len(self.ids)]
        m = self.model[iid]
        if m.state == "resolved":
            self.manager.tracker.reopen(iid, by="bob")
            m.state, m.opened, m.tier, m.acked_by = "open", self.now, 0, None
            m.breached_now = set()
        else:
            self._refused(lambda: self.manager.tracker.reopen(iid, by="bob"))

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 100))
    def raise_severity(self, pick: int) -> None:
        iid = self.ids[pick % len(self.ids)]
        m = self.model[iid]
        if m.state != "resolved" and m.severity > 0:
            self.manager.tracker.raise_severity(iid, by="alice")
            m.severity -= 1
        else:
            self._refused(lambda: self.manager.tracker.raise_severity(iid, by="alice"))

    @rule()
    def restart(self) -> None:
        """The process stops and starts again: a new store on the file, a new manager."""
        self.store.close()
        self.store = SQLiteIncidentStore(self.path)
        self.manager = self._manager()

    def _refused(self, act: object) -> None:
        try:
            act()  # type: ignore[operator]
        except IncidentError:
            return
        raise AssertionError("the transition should have been refused")

    # ----------------------------------------------------------------- invariants

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        kept = {i.id: i for i in self.store.incidents()}
        assert list(kept) == self.ids  # oldest first, none lost, none added
        for iid, m in self.model.items():
            i = kept[iid]
            assert i.state.value == m.state, (iid, i.timeline)
            assert i.severity.value == f"P{m.severity}"
            assert i.escalation_tier == m.tier
            assert [b.target.value for b in i.breaches] == m.breaches
            if m.state == "acknowledged":
                assert i.acknowledged_by == m.acked_by
        assert [len(t) for t in self.told] == self.expected_told
        for iid, heard in self.heard.items():
            assert self.keeper.heard.get(iid, []) == [action for action, _ in heard]
            # The timeline keeps every announcement (notifications, the latest telling).
            entries = [
                e.text
                for e in kept[iid].timeline
                if e.text.startswith(("Keeper() (a", "Keeper() (r"))
            ]
            assert entries == [
                f"Keeper() ({a}): told" if ok else f"Keeper() ({a}): failed: {DOWN}"
                for a, ok in heard
                if a != "trigger"
            ]


def test_lifecycle_and_escalation_agree_with_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sequence of recoveries, checks, operators' acts and restarts keeps to the model."""
    # A restarted manager anchors its clock to the wall time again: here the wall time
    # moves with the fake clock, as a real one moves with real time.
    clocks: list[FakeClock] = []
    monkeypatch.setattr(manager_module, "wall_time", lambda: 1.8e9 + clocks[-1].monotonic())
    monkeypatch.setattr(LifecycleMachine, "clocks", clocks, raising=False)
    # Older hypothesis releases leave this function unannotated.
    run = cast("Callable[..., None]", run_state_machine_as_test)
    run(LifecycleMachine, settings=settings(stateful_step_count=30, max_examples=40, deadline=None))
