"""The incident lifecycle: acknowledge, resolve, re-open, notes, severity, targets, escalation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import ValidationError

from resilience.health import HealthRegistry
from resilience.recovery import (
    CallbackNotifier,
    EntryKind,
    EscalationPolicy,
    EscalationTier,
    Incident,
    IncidentError,
    IncidentPolicy,
    IncidentState,
    RecoveryManager,
    Resolution,
    Severity,
    SeverityTargets,
    Stage,
    Target,
    Targets,
    UnknownIncidentError,
)
from resilience.testing import FakeClock

OPEN, ACKED, RESOLVED = IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.RESOLVED


class Flaky:
    """A component whose restart works only once ``healthy`` is set."""

    def __init__(self) -> None:
        self.healthy = False

    def restart(self) -> None:
        if not self.healthy:
            raise ConnectionRefusedError(111, "Connection refused")


def make(
    clock: FakeClock,
    *,
    told: list[Incident] | None = None,
    severity: str = "P1",
    **policy: object,
) -> tuple[RecoveryManager, Flaky]:
    notifiers = [CallbackNotifier(told.append)] if told is not None else []
    manager = RecoveryManager(
        clock=clock,
        stages=[Stage()],
        notifiers=notifiers,
        incidents=IncidentPolicy(**policy),  # type: ignore[arg-type]
    )
    db = Flaky()
    manager.register("db", actions=[db.restart], severity=severity)
    return manager, db


def kinds(incident: Incident) -> list[str]:
    return [e.kind.value for e in incident.timeline]


# ------------------------------------------------------------------ the record


async def test_an_escalated_recovery_opens_an_incident_with_its_timeline(
    fake_clock: FakeClock,
) -> None:
    """A recovery that fails leaves an open incident: detected, then each action tried."""
    manager, _ = make(fake_clock)
    incident = await manager.recover("db", reason="health check: refused")
    assert incident.state is OPEN
    assert kinds(incident) == ["detected", "action"]
    assert incident.timeline[0].text == "health check: refused"
    assert "ConnectionRefusedError" in incident.timeline[1].text
    assert manager.tracker.get(incident.id) == incident


async def test_a_recovered_incident_is_resolved_by_recovery(fake_clock: FakeClock) -> None:
    """A recovery that works resolves its incident, and the component's earlier open ones."""
    manager, db = make(fake_clock)
    failed = await manager.recover("db")
    fake_clock.advance(30)
    db.healthy = True
    worked = await manager.recover("db")
    assert (worked.state, worked.resolved_by, kinds(worked)[-1]) == (
        RESOLVED,
        "recovery",
        "resolved",
    )
    earlier = manager.tracker.get(failed.id)
    assert (earlier.state, earlier.resolved_by) == (RESOLVED, "recovery")
    assert earlier.resolved_at == worked.ended_at
    assert worked.id in earlier.timeline[-1].text


# ------------------------------------------------------------------ operators


async def test_acknowledge_then_resolve_records_who_and_when(fake_clock: FakeClock) -> None:
    """Acknowledging and resolving record the person and the time, on the timeline too."""
    manager, _ = make(fake_clock)
    incident = await manager.recover("db")
    fake_clock.advance(120)
    acked = manager.acknowledge(incident.id, by="alice")
    assert (acked.state, acked.acknowledged_by) == (ACKED, "alice")
    assert acked.acknowledged_at == pytest.approx(incident.started_at + 120)
    fake_clock.advance(60)
    done = manager.resolve(incident.id, by="bob", text="failed over to the replica")
    assert (done.state, done.resolved_by) == (RESOLVED, "bob")
    assert done.timeline[-1].text == "failed over to the replica"
    assert kinds(done)[-2:] == ["acknowledged", "resolved"]
    assert manager.incidents() == [done]


async def test_transitions_the_state_does_not_allow_are_refused_clearly(
    fake_clock: FakeClock,
) -> None:
    """Acknowledging twice, resolving twice, re-opening an open one: each a clear error."""
    manager, _ = make(fake_clock)
    incident = await manager.recover("db")
    tracker = manager.tracker
    with pytest.raises(IncidentError, match="only a resolved incident is re-opened"):
        tracker.reopen(incident.id, by="alice")
    tracker.acknowledge(incident.id, by="alice")
    with pytest.raises(IncidentError, match="alice took it"):
        tracker.acknowledge(incident.id, by="bob")
    tracker.resolve(incident.id, by="alice")
    with pytest.raises(IncidentError, match="alice resolved it"):
        tracker.resolve(incident.id, by="bob")
    with pytest.raises(IncidentError, match="re-open it first"):
        tracker.acknowledge(incident.id, by="bob")
    with pytest.raises(UnknownIncidentError, match="no incident 'nope'"):
        tracker.acknowledge("nope", by="bob")
    with pytest.raises(ValueError, match="by must name who"):
        tracker.note(incident.id, by=" ", text="hello")
    with pytest.raises(ValueError, match="a note needs some text"):
        tracker.note(incident.id, by="alice", text="  ")


async def test_reopening_starts_the_targets_and_escalation_over(fake_clock: FakeClock) -> None:
    """A re-opened incident is open again, unacknowledged, and escalates from its re-opening."""
    told: list[Incident] = []
    tier = EscalationTier(notifiers=(CallbackNotifier(told.append),))
    manager, _ = make(fake_clock, escalation=EscalationPolicy(tiers=(tier,)))
    incident = await manager.recover("db")
    manager.tracker.resolve(incident.id, by="alice")
    fake_clock.advance(3600)
    again = manager.tracker.reopen(incident.id, by="alice", text="errors are back")
    assert (again.state, again.acknowledged_by, again.resolved_by) == (OPEN, None, None)
    assert await manager.check_targets() == []  # the P1 30 min run from the re-opening
    fake_clock.advance(30 * 60)
    (escalated,) = await manager.check_targets()
    assert escalated.escalation_tier == 1
    assert len(told) == 1


async def test_notes_and_severity_raises_go_on_the_timeline(fake_clock: FakeClock) -> None:
    """A note is kept in any state; severity rises one step or to a named one, never falls."""
    manager, _ = make(fake_clock, severity="P3")
    incident = await manager.recover("db")
    tracker = manager.tracker
    tracker.note(incident.id, by="alice", text="looking at the disk")
    assert tracker.raise_severity(incident.id, by="alice").severity is Severity.P2
    assert tracker.raise_severity(incident.id, by="alice", to="p0").severity is Severity.P0
    with pytest.raises(IncidentError, match="already P0; P0 is the most urgent"):
        tracker.raise_severity(incident.id, by="alice")
    with pytest.raises(ValueError, match=r"to must be one of P0, P1, P2, P3, got 'P7'"):
        tracker.raise_severity(incident.id, by="alice", to="P7")
    kept = tracker.get(incident.id)
    assert kinds(kept)[-3:] == ["note", "severity raised", "severity raised"]
    assert [e.text for e in kept.timeline[-2:]] == ["P3 -> P2", "P2 -> P0"]


async def test_severity_is_never_lowered(fake_clock: FakeClock) -> None:
    """Asking for a less urgent severity is refused, naming both."""
    manager, _ = make(fake_clock, severity="P1")
    incident = await manager.recover("db")
    with pytest.raises(IncidentError, match="is P1; P2 is less urgent"):
        manager.tracker.raise_severity(incident.id, by="alice", to=Severity.P2)


# ------------------------------------------------------------- targets, escalation


def test_default_targets_are_the_runbooks() -> None:
    """P0 15 min / 2 h, P1 30 min / 4 h, P2 2 h / 24 h, P3 24 h / 72 h."""
    targets = Targets()
    got = {s.value: (targets.of(s).response, targets.of(s).resolution) for s in Severity}
    assert got == {
        "P0": (900, 7200),
        "P1": (1800, 14400),
        "P2": (7200, 86400),
        "P3": (86400, 259200),
    }
    changed = Targets.model_validate(
        {"P1": {"response": timedelta(minutes=10), "resolution": 3600}}
    )
    assert (changed.P1.response, changed.P0.response) == (600, 900)


def test_bad_targets_and_policies_are_refused_naming_the_field() -> None:
    """Unknown severities, a resolution before the response, tiers out of order: clear errors."""
    with pytest.raises(ValidationError, match=r"unknown severities \['P7'\]"):
        Targets.model_validate({"P7": {"response": 1, "resolution": 2}})
    with pytest.raises(ValidationError, match="must not be shorter than response"):
        SeverityTargets(response=600, resolution=60)
    with pytest.raises(ValidationError, match="response"):
        SeverityTargets(response=0, resolution=60)
    with pytest.raises(ValidationError, match="in order of their after"):
        EscalationPolicy(tiers=(EscalationTier(after=600), EscalationTier(after=0)))
    with pytest.raises(ValidationError, match="notifiers must have a min_severity"):
        EscalationTier.model_validate({"notifiers": ["ops@example.com"]})
    with pytest.raises(ValidationError, match="flapping_threshold"):
        IncidentPolicy(flapping_threshold=1)
    with pytest.raises(ValidationError, match="dedup_window"):
        IncidentPolicy(dedup_window=0)
    with pytest.raises(ValueError, match="severity must be one of P0, P1, P2, P3, got 'P9'"):
        RecoveryManager().register("x", actions=[lambda: None], severity="P9")


async def test_an_unacknowledged_incident_escalates_tier_by_tier(fake_clock: FakeClock) -> None:
    """Past the response target the first tier is told; the next one after its delay."""
    first: list[Incident] = []
    second: list[Incident] = []
    policy = EscalationPolicy(
        tiers=(
            EscalationTier(after=0, notifiers=(CallbackNotifier(first.append),)),
            EscalationTier(after=600, notifiers=(CallbackNotifier(second.append),)),
        )
    )
    manager, _ = make(fake_clock, escalation=policy)
    incident = await manager.recover("db")  # P1: respond within 30 min
    fake_clock.advance(30 * 60 - 1)
    assert await manager.check_targets() == []
    fake_clock.advance(1)
    (now,) = await manager.check_targets()
    assert (now.escalation_tier, len(first), len(second)) == (1, 1, 0)
    assert [b.target for b in now.breaches] == [Target.RESPONSE]
    assert now.breaches[0].due_at == pytest.approx(incident.started_at + 1800)
    fake_clock.advance(600)
    with pytest.raises(RuntimeError, match="use `await check_targets"):
        manager.tick()  # inside an event loop
    assert (await manager.check_targets())[0].escalation_tier == 2
    assert (len(first), len(second)) == (1, 1)
    assert await manager.check_targets() == []  # nothing more: every tier told
    kept = manager.tracker.get(incident.id)
    assert kinds(kept).count("escalated") == 2
    assert kinds(kept).count("notified") == 2


async def test_acknowledging_stops_escalation_but_not_the_resolution_target(
    fake_clock: FakeClock,
) -> None:
    """An acknowledged incident is not escalated; missing its resolution target is recorded."""
    told: list[Incident] = []
    tier = EscalationTier(notifiers=(CallbackNotifier(told.append),))
    manager, _ = make(fake_clock, escalation=EscalationPolicy(tiers=(tier,)))
    incident = await manager.recover("db")
    fake_clock.advance(600)
    manager.acknowledge(incident.id, by="alice")
    fake_clock.advance(4 * 3600)  # past the P1 resolution target
    (kept,) = await manager.check_targets()
    assert told == []
    assert kept.escalation_tier == 0
    assert [b.target for b in kept.breaches] == [Target.RESOLUTION]
    assert manager.tracker.breaches() == [(kept, kept.breaches[0])]
    assert await manager.check_targets() == []  # recorded once


async def test_escalation_may_raise_the_severity(fake_clock: FakeClock) -> None:
    """A tier with raise_severity makes the incident one step more urgent."""
    tier = EscalationTier(raise_severity=True)
    manager, _ = make(fake_clock, severity="P2", escalation=EscalationPolicy(tiers=(tier,)))
    incident = await manager.recover("db")
    fake_clock.advance(2 * 3600)
    (kept,) = await manager.check_targets()
    assert kept.severity is Severity.P1
    assert kinds(kept)[-3:] == ["breached", "escalated", "severity raised"]
    assert kept.breaches[0].severity is Severity.P2
    assert kept.id == incident.id


async def test_a_failing_tier_notifier_is_recorded_and_the_others_told(
    fake_clock: FakeClock,
) -> None:
    """A tier's notifier that raises is on the timeline; the other one is still told."""
    told: list[Incident] = []

    def broken(_: Incident) -> None:
        raise ConnectionError("smtp.example.com refused")

    tier = EscalationTier(notifiers=(CallbackNotifier(broken), CallbackNotifier(told.append)))
    manager, _ = make(fake_clock, escalation=EscalationPolicy(tiers=(tier,)))
    await manager.recover("db")
    fake_clock.advance(1800)
    (kept,) = await manager.check_targets()
    assert len(told) == 1
    notified = [e.text for e in kept.timeline if e.kind is EntryKind.NOTIFIED]
    assert any("failed: ConnectionError: smtp.example.com refused" in t for t in notified)
    assert any(t.endswith(": told") for t in notified)


# ------------------------------------------------- de-duplication, cool-down, flapping


async def test_the_same_failure_within_the_window_updates_the_open_incident(
    fake_clock: FakeClock,
) -> None:
    """Within dedup_window the same failure folds into the open incident; after it, a new one."""
    manager, _ = make(fake_clock, dedup_window=600)
    first = await manager.recover("db", reason="refused")
    fake_clock.advance(300)
    again = await manager.recover("db", reason="refused")
    assert again.id == first.id
    assert (again.occurrences, len(again.actions)) == (2, 2)
    assert "recurred" in kinds(again)
    other = await manager.recover("db", reason="disk full")  # another failure
    assert other.id != first.id
    fake_clock.advance(601)
    later = await manager.recover("db", reason="refused")
    assert later.id not in (first.id, other.id)
    assert len(manager.incidents()) == 3


async def test_repeat_notifications_of_one_incident_are_cooled_down(fake_clock: FakeClock) -> None:
    """A recurrence within the cool-down is recorded, not paged; after it, paged again."""
    told: list[Incident] = []
    manager, _ = make(fake_clock, told=told, dedup_window=3600, cooldown=900)
    first = await manager.recover("db")
    fake_clock.advance(300)
    await manager.recover("db")
    assert len(told) == 1
    assert "not told again" in manager.tracker.get(first.id).timeline[-1].text
    fake_clock.advance(900)
    await manager.recover("db")
    assert len(told) == 2
    assert told[1].id == first.id
    assert told[1].occurrences == 3


async def test_a_flapping_component_is_marked_and_pages_once(fake_clock: FakeClock) -> None:
    """The Nth incident within the window is flapping and pages; the later ones do not."""
    told: list[Incident] = []
    manager, db = make(fake_clock, told=told, flapping_threshold=3, flapping_window=600)
    for _ in range(2):
        await manager.recover("db")  # fails: paged
        fake_clock.advance(10)
        db.healthy = True
        await manager.recover("db")  # works: resolves it
        db.healthy = False
        fake_clock.advance(10)
    assert len(told) == 2
    flapping = [i for i in manager.incidents() if i.flapping]
    assert len(flapping) == 2  # the 3rd and the 4th incident within 600 s
    assert [i.resolution for i in flapping] == [Resolution.ESCALATED, Resolution.RECOVERED]
    said = [[e.text for e in i.timeline if e.kind is EntryKind.FLAPPING] for i in flapping]
    assert "3 incidents within 600 s: flapping; paging once" in said[0][0]
    assert "paged once already, not again" in said[1][0]
    await manager.recover("db")
    assert len(told) == 2  # still flapping: not paged
    fake_clock.advance(3600)
    await manager.recover("db")
    assert len(told) == 3  # calm for a window: paged again
    assert not manager.incidents()[-1].flapping


# ----------------------------------------------------------- suspend, old stores


async def test_suspend_and_resume_are_on_the_open_incidents_timeline(fake_clock: FakeClock) -> None:
    """Suspending and resuming recovery is noted on the component's open incidents."""
    manager, _ = make(fake_clock)
    incident = await manager.recover("db")
    manager.suspend("db", by="alice")
    manager.resume("db", by="alice")
    kept = manager.tracker.get(incident.id)
    assert kinds(kept)[-2:] == ["suspended", "resumed"]
    assert kept.timeline[-1].by == "alice"


async def test_a_store_without_updates_still_keeps_incidents_but_refuses_the_lifecycle(
    fake_clock: FakeClock,
) -> None:
    """A store of only add/incidents/close keeps incidents; acknowledging says what is missing."""

    class AppendOnly:
        def __init__(self) -> None:
            self.kept: list[Incident] = []

        def add(self, incident: Incident) -> None:
            self.kept.append(incident)

        def incidents(self, component: str | None = None) -> list[Incident]:
            return list(self.kept)

        def close(self) -> None:
            pass

    manager = RecoveryManager(clock=fake_clock, stages=[Stage()], store=AppendOnly())
    manager.register("db", actions=[Flaky().restart])
    incident = await manager.recover("db")
    assert manager.incidents() == [incident]
    with pytest.raises(TypeError, match="cannot be acknowledged: it has no get/update"):
        manager.acknowledge(incident.id, by="alice")


def test_an_incident_of_schema_1_reads_with_a_state_and_a_timeline() -> None:
    """A dict written before the lifecycle reads as resolved (recovered) or open."""
    old = {
        "id": "a1",
        "component": "db",
        "reason": "refused",
        "severity": "P1",
        "started_at": 100.0,
        "ended_at": 160.0,
        "resolution": "recovered",
        "detail": "restart worked: verified",
        "actions": [
            {
                "action": "restart",
                "stage": 1,
                "attempt": 1,
                "at": 100.0,
                "duration": 1.0,
                "ok": True,
                "outcome": "verified",
            }
        ],
        "notifications": [],
    }
    incident = Incident.from_dict(old)
    assert (incident.state, incident.resolved_by, incident.resolved_at) == (
        RESOLVED,
        "recovery",
        160.0,
    )
    assert kinds(incident) == ["detected", "action", "resolved"]
    assert Incident.from_dict(incident.to_dict()) == incident
    escalated = Incident.from_dict(
        {
            **old,
            "resolution": "escalated",
            "notifications": [{"notifier": "n", "ok": True, "error": None}],
        }
    )
    assert (escalated.state, escalated.notified_at) == (OPEN, 160.0)


async def test_watch_checks_the_targets_every_interval_until_cancelled(
    fake_clock: FakeClock,
) -> None:
    """watch() checks on the clock's interval: an unacknowledged incident escalates."""
    told: list[Incident] = []
    tier = EscalationTier(notifiers=(CallbackNotifier(told.append),))
    manager, _ = make(fake_clock, escalation=EscalationPolicy(tiers=(tier,)))
    incident = await manager.recover("db")
    watcher = asyncio.create_task(manager.watch(60))
    for _ in range(10_000):  # each round sleeps 60 s on the fake clock, which moves at once
        if told:
            break
        await asyncio.sleep(0)
    watcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watcher
    assert fake_clock.monotonic() == 1800  # the 30th round: the P1 response target
    assert manager.tracker.get(incident.id).escalation_tier == 1
    with pytest.raises(ValueError, match="interval of more than 0 seconds"):
        await manager.watch(0)


async def test_a_component_healthy_again_by_itself_resolves_its_open_incidents(
    fake_clock: FakeClock,
) -> None:
    """A health check back to OK after ERROR resolves the open incidents, by the check."""
    state = {"ok": False}
    health = HealthRegistry(clock=fake_clock)
    health.register("db", lambda: state["ok"])
    manager, _ = make(fake_clock)
    manager.attach(health)
    await health.arun()  # ERROR: a recovery, which fails
    (future,) = manager.running().values()
    incident = await asyncio.wrap_future(future)
    assert manager.tracker.get(incident.id).state is OPEN
    state["ok"] = True
    fake_clock.advance(120)
    await health.arun()  # OK again, nobody recovered it
    kept = manager.tracker.get(incident.id)
    assert (kept.state, kept.resolved_by) == (RESOLVED, "health check")
    assert kept.timeline[-1].text == "health check OK"
    await health.arun()  # OK to OK: nothing more
    assert manager.tracker.get(incident.id) == kept
