"""Acknowledging and resolving here tells PagerDuty (a real loopback receiver), in step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from receivers import Receiver

from resilience import (
    Incident,
    PagerDutyNotifier,
    RecoveryManager,
    Resolution,
    Router,
    SlackNotifier,
    Stage,
)
from resilience.health import HealthRegistry
from resilience.recovery import (
    EntryKind,
    EscalationPolicy,
    EscalationTier,
    IncidentPolicy,
    IncidentState,
    IncidentTracker,
    MemoryIncidentStore,
    Severity,
)
from resilience.testing import FakeClock

ROUTING_KEY = "R0UT1NGKEYSECRET0000000000000000"
ACCEPTED = {"status": "success", "message": "Event processed"}
SLACK_PATH = "/services/T0000/B0000/XXXXSLACKSECRET"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start HTTP receivers on loopback; each is stopped, any hang released, on teardown."""
    for scheme in ("http", "https", "all"):  # loopback must never go through a proxy
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    started: list[Receiver] = []

    def start(status: int = 202, answer: object = ACCEPTED, *, hang: bool = False) -> Receiver:
        receiver = Receiver(status, answer, hang=hang)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


class Flaky:
    """A component whose reconnect works only once ``healthy`` is set."""

    def __init__(self) -> None:
        self.healthy = False

    def reconnect(self) -> None:
        if not self.healthy:
            raise ConnectionRefusedError(111, "Connection refused")


def pagerduty(receiver: Receiver, timeout: float = 5) -> PagerDutyNotifier:
    return PagerDutyNotifier(ROUTING_KEY, url=receiver.base + "/v2/enqueue", timeout=timeout)


def make(
    clock: FakeClock, *notifiers: Any, notify_timeout: float = 5, **policy: Any
) -> tuple[RecoveryManager, Flaky]:
    manager = RecoveryManager(
        clock=clock,
        stages=[Stage(delay=0, attempts=1)],
        notifiers=notifiers,
        notify_timeout=notify_timeout,
        incidents=IncidentPolicy(**policy),
    )
    db = Flaky()
    manager.register("payments-db", actions=[db.reconnect], severity="P1")
    return manager, db


def actions(receiver: Receiver) -> list[tuple[str, str]]:
    return [(r.json()["event_action"], r.json()["dedup_key"]) for r in receiver.requests]


def told(incident: Incident) -> list[str]:
    return [e.text for e in incident.timeline if e.kind is EntryKind.NOTIFIED]


def test_acknowledging_here_acknowledges_the_pagerduty_alert(
    serve: Any, fake_clock: FakeClock
) -> None:
    """A person's sync acknowledge sends `acknowledge` with the trigger's dedup_key, recorded."""
    receiver = serve()
    manager, _ = make(fake_clock, pagerduty(receiver))
    incident = asyncio.run(manager.recover("payments-db"))

    acked = manager.acknowledge(incident.id, by="alice")

    key = f"resilience/{incident.id}"
    assert actions(receiver) == [("trigger", key), ("acknowledge", key)]
    assert acked.state is IncidentState.ACKNOWLEDGED
    assert [(r.notifier.endswith("(acknowledge)"), r.ok) for r in acked.notifications] == [
        (False, True),
        (True, True),
    ]
    [entry] = told(acked)
    assert entry.endswith("(acknowledge): told")
    assert manager.tracker.get(incident.id) == acked
    assert ROUTING_KEY not in repr(acked.to_dict())


async def test_resolving_by_a_person_resolves_the_alert(serve: Any, fake_clock: FakeClock) -> None:
    """``await aresolve`` sends `resolve` with the same dedup_key and records it."""
    receiver = serve()
    manager, _ = make(fake_clock, pagerduty(receiver))
    incident = await manager.recover("payments-db")

    await manager.aacknowledge(incident.id, by="alice")
    resolved = await manager.aresolve(incident.id, by="alice", text="failed over")

    key = f"resilience/{incident.id}"
    assert actions(receiver) == [("trigger", key), ("acknowledge", key), ("resolve", key)]
    assert resolved.state is IncidentState.RESOLVED
    assert [r.ok for r in resolved.notifications] == [True, True, True]
    assert resolved.notifications[-1].notifier.endswith("(resolve)")


@pytest.mark.parametrize("dedup_window", [None, 3600.0])
async def test_a_recovery_that_works_resolves_the_alert_of_the_failed_one(
    serve: Any, fake_clock: FakeClock, dedup_window: float | None
) -> None:
    """A later recovery resolving the open incident (kept apart, or folded) sends `resolve`."""
    receiver = serve()
    manager, db = make(fake_clock, pagerduty(receiver), dedup_window=dedup_window)
    failed = await manager.recover("payments-db")
    fake_clock.advance(30)
    db.healthy = True

    await manager.recover("payments-db")

    key = f"resilience/{failed.id}"
    assert actions(receiver) == [("trigger", key), ("resolve", key)]
    earlier = manager.tracker.get(failed.id)
    assert (earlier.state, earlier.resolved_by) == (IncidentState.RESOLVED, "recovery")
    assert earlier.notifications[-1].ok
    assert told(earlier)[-1].endswith("(resolve): told")


def test_a_hanging_receiver_does_not_hold_the_acknowledgement_past_the_timeout(
    serve: Any, fake_clock: FakeClock
) -> None:
    """One PagerDuty service hangs: the other is told, the hang costs notify_timeout, recorded."""
    hanging, fine = serve(), serve()
    manager, _ = make(fake_clock, pagerduty(hanging), pagerduty(fine), notify_timeout=0.5)
    incident = asyncio.run(manager.recover("payments-db"))
    hanging.hang = True  # it took the trigger; it never answers the acknowledge

    start = time.perf_counter()
    acked = manager.acknowledge(incident.id, by="alice")
    elapsed = time.perf_counter() - start

    assert elapsed < 0.5 + 1.0
    assert acked.state is IncidentState.ACKNOWLEDGED
    key = f"resilience/{incident.id}"
    assert actions(fine) == [("trigger", key), ("acknowledge", key)]
    assert ("acknowledge", key) in actions(hanging)
    hung, ok = acked.notifications[-2:]
    assert (hung.ok, ok.ok) == (False, True)
    assert hung.error == "no answer within notify_timeout=0.5 s"


async def test_a_failing_receiver_is_recorded_and_the_change_stands(
    serve: Any, fake_clock: FakeClock
) -> None:
    """PagerDuty answering 500 to the acknowledge is recorded; the incident is acknowledged."""
    receiver = serve()
    manager, _ = make(fake_clock, pagerduty(receiver))
    incident = await manager.recover("payments-db")
    receiver.status, receiver.answer = 500, {"status": "error", "message": "internal"}

    acked = await manager.aacknowledge(incident.id, by="alice")

    assert acked.state is IncidentState.ACKNOWLEDGED
    last = acked.notifications[-1]
    assert not last.ok
    assert last.error is not None
    assert "HTTP 500: internal" in last.error
    assert ROUTING_KEY not in last.error
    assert "failed: " in told(acked)[-1]


async def test_a_router_passes_the_change_to_its_channels_that_keep_alerts(
    serve: Any, fake_clock: FakeClock
) -> None:
    """Through a router, PagerDuty hears of the acknowledgement; Slack, with no hook, does not."""
    pd_server, slack_server = serve(), serve(200, "ok")
    router = Router(
        {
            "pagerduty": pagerduty(pd_server),
            "slack": SlackNotifier(slack_server.base + SLACK_PATH, timeout=5),
        }
    )
    manager, _ = make(fake_clock, router)
    incident = await manager.recover("payments-db")

    acked = await manager.aacknowledge(incident.id, by="alice")

    key = f"resilience/{incident.id}"
    assert actions(pd_server) == [("trigger", key), ("acknowledge", key)]
    assert len(slack_server.requests) == 1  # the first notification only
    assert [(r.notifier, r.ok) for r in acked.notifications] == [
        ("pagerduty", True),
        ("slack", True),
        ("pagerduty (acknowledge)", True),
    ]


async def test_a_sync_acknowledge_inside_a_loop_tells_pagerduty_in_the_background(
    serve: Any, fake_clock: FakeClock
) -> None:
    """Called from async code, acknowledge returns at once and PagerDuty is told by a task."""
    receiver = serve()
    manager, _ = make(fake_clock, pagerduty(receiver))
    incident = await manager.recover("payments-db")

    acked = manager.acknowledge(incident.id, by="alice")

    assert acked.state is IncidentState.ACKNOWLEDGED
    deadline = time.perf_counter() + 5
    while len(manager.tracker.get(incident.id).notifications) < 2:
        assert time.perf_counter() < deadline, "the acknowledge never reached PagerDuty"
        await asyncio.sleep(0.01)
    assert actions(receiver)[-1] == ("acknowledge", f"resilience/{incident.id}")


async def test_an_incident_never_told_is_not_announced(serve: Any, fake_clock: FakeClock) -> None:
    """An incident no notifier was told of (none paged) sends nothing when resolved."""
    receiver = serve()
    store = MemoryIncidentStore()
    tracker = IncidentTracker(store, notifiers=[pagerduty(receiver)], clock=fake_clock)
    quiet = Incident(
        id="inc-quiet",
        component="cache",
        reason="suspended",
        severity=Severity.P1,
        started_at=1_700_000_000.0,
        ended_at=1_700_000_001.0,
        resolution=Resolution.SUSPENDED,
        detail="recovery is suspended",
    )
    store.add(quiet)

    resolved = await tracker.aresolve("inc-quiet", by="bob")

    assert resolved.state is IncidentState.RESOLVED
    assert resolved.notifications == ()
    assert receiver.requests == []


async def test_a_health_check_back_to_ok_resolves_the_alert(
    serve: Any, fake_clock: FakeClock
) -> None:
    """A component healthy again by itself resolves its incident, and PagerDuty's alert with it."""
    receiver = serve()
    state = {"ok": False}
    health = HealthRegistry(clock=fake_clock)
    health.register("payments-db", lambda: state["ok"])
    manager, _ = make(fake_clock, pagerduty(receiver))
    manager.attach(health)
    await health.arun()  # ERROR: a recovery, which fails and triggers an alert
    (future,) = manager.running().values()
    incident = await asyncio.wrap_future(future)
    state["ok"] = True

    await health.arun()  # OK again: resolved by the check, PagerDuty told by a task

    key = f"resilience/{incident.id}"
    deadline = time.perf_counter() + 5
    while len(manager.tracker.get(incident.id).notifications) < 2:
        assert time.perf_counter() < deadline, "the resolution never reached PagerDuty"
        await asyncio.sleep(0.01)
    assert actions(receiver) == [("trigger", key), ("resolve", key)]
    kept = manager.tracker.get(incident.id)
    assert (kept.state, kept.resolved_by) == (IncidentState.RESOLVED, "health check")
    assert told(kept)[-1].endswith("(resolve): told")


async def test_the_escalation_tier_reached_hears_of_the_acknowledgement(
    serve: Any, fake_clock: FakeClock
) -> None:
    """A PagerDuty service told by an escalation tier is told of the acknowledgement too."""
    receiver = serve()
    tier = EscalationTier(notifiers=(pagerduty(receiver),))
    manager, _ = make(fake_clock, escalation=EscalationPolicy(tiers=(tier,)))
    incident = await manager.recover("payments-db")
    assert receiver.requests == []  # the manager has no notifiers of its own
    fake_clock.advance(30 * 60)  # P1: to be acknowledged within 30 minutes
    (escalated,) = await manager.check_targets()
    assert escalated.escalation_tier == 1

    await manager.aacknowledge(incident.id, by="alice")

    key = f"resilience/{incident.id}"
    assert actions(receiver) == [("trigger", key), ("acknowledge", key)]
