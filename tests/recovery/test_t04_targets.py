"""T04, the automation service's targets, on a fake clock.

A failure is detected within one monitor interval, the first recovery attempt comes
within 30 s of that, and an operator is alerted within 5 minutes of the last failed
stage; unacknowledged, the P0 incident escalates at its 15-minute response target.
"""

from __future__ import annotations

import asyncio

from resilience.health import HealthMonitor, HealthRegistry
from resilience.recovery import (
    DEFAULT_STAGES,
    CallbackNotifier,
    EscalationPolicy,
    EscalationTier,
    Incident,
    IncidentPolicy,
    RecoveryManager,
    Resolution,
)
from resilience.testing import FakeClock

CRITICAL_EVERY = 30.0  # critical services every 30 s, the others every 2 min


async def test_detect_act_and_alert_within_the_targets(fake_clock: FakeClock) -> None:
    """Detected within 30 s, acted on at once, alerted at the last failure, escalated at 15 min."""
    clock = fake_clock
    down: dict[str, float | None] = {"since": None}
    health = HealthRegistry(clock=clock)
    health.register("workflow-api", lambda: down["since"] is None, critical=True)
    monitor = HealthMonitor(health, interval=120, critical_interval=CRITICAL_EVERY)

    actions: list[float] = []
    alerts: list[float] = []
    pages: list[float] = []

    def restart_service() -> None:
        actions.append(clock.monotonic())
        raise ConnectionRefusedError(111, "Connection refused")  # stays down

    def alert(_: Incident) -> None:
        alerts.append(clock.monotonic())

    def page(_: Incident) -> None:
        pages.append(clock.monotonic())

    manager = RecoveryManager(
        clock=clock,
        stages=DEFAULT_STAGES,  # immediately, after 1 minute, after 5 minutes
        notifiers=[CallbackNotifier(alert)],
        incidents=IncidentPolicy(
            escalation=EscalationPolicy(
                tiers=(EscalationTier(notifiers=(CallbackNotifier(page),)),)
            )
        ),
    )
    manager.register("workflow-api", actions=[restart_service], severity="P0")
    manager.attach(health)

    assert await monitor.atick() is not None  # healthy
    clock.advance(7)
    failed_at = down["since"] = clock.monotonic()  # the failure, between two rounds
    detected_at = None
    while not manager.running():
        clock.advance(CRITICAL_EVERY)
        await monitor.atick()
        detected_at = clock.monotonic()
        assert detected_at - failed_at <= CRITICAL_EVERY + 1e-9, "not detected in one interval"
    (future,) = manager.running().values()
    incident = await asyncio.wrap_future(future)

    assert detected_at is not None
    assert actions[0] - detected_at <= 30
    assert incident.resolution is Resolution.ESCALATED
    assert len(actions) == 6  # 1 + 2 + 3 attempts over the three stages
    assert len(alerts) == 1
    assert 0 <= alerts[0] - actions[-1] <= 5 * 60
    assert incident.notified_at is not None

    # Nobody acknowledges: the P0 response target (15 min from the detection) escalates.
    clock.advance(15 * 60 - (clock.monotonic() - detected_at) - 1)
    assert await manager.check_targets() == []
    clock.advance(1)
    (escalated,) = await manager.check_targets()
    assert pages == [clock.monotonic()]
    assert escalated.escalation_tier == 1
    assert [b.target.value for b in escalated.breaches] == ["response"]
