"""The status page's incidents, and its public view: each service operational, degraded or down.

The operators' page lists the open incidents (severity, state, last update). The public
page, for customers, says only what a public status page says: overall and per service,
``operational``, ``degraded`` or ``down``, and nothing of why (no messages, no incident
text, no events): internal detail stays internal.
"""

from __future__ import annotations

from typing import Any

from resilience._breaker.registry import BreakerRegistry
from resilience._core.redact import redact_text
from resilience._core.text import one_line
from resilience.health import ComponentStatus, HealthRegistry
from resilience.recovery import Incident, IncidentStore, MutableIncidentStore, Severity

__all__ = ["OPERATIONAL", "incident_rows", "public_services"]

OPERATIONAL, DEGRADED, DOWN = "operational", "degraded", "down"
_RANK = {OPERATIONAL: 0, DEGRADED: 1, DOWN: 2}
_HEALTH = {
    ComponentStatus.OK: OPERATIONAL,
    ComponentStatus.WARNING: DEGRADED,
    ComponentStatus.UNKNOWN: DEGRADED,
    ComponentStatus.ERROR: DOWN,
}
_BREAKER = {"OPEN": DOWN, "FORCED_OPEN": DOWN, "HALF_OPEN": DEGRADED}
_URGENT = (Severity.P0, Severity.P1)  # an open P0/P1 incident: the service is down


def _open(store: IncidentStore) -> list[Incident]:
    if isinstance(store, MutableIncidentStore):
        return store.open_incidents()
    return [i for i in store.incidents() if i.is_open]


def incident_rows(store: IncidentStore | None) -> list[dict[str, Any]] | None:
    """The open incidents, most urgent first, then the latest; None without a store."""
    if store is None:
        return None
    rows = sorted(_open(store), key=lambda i: (i.severity.value, -i.updated_at))
    return [_row(i) for i in rows]


def _row(incident: Incident) -> dict[str, Any]:
    last = incident.timeline[-1] if incident.timeline else None
    update = f"{last.kind.value}: {last.text}" if last is not None and last.text else None
    if last is not None and not last.text:
        update = last.kind.value
    return {
        "id": incident.id,
        "component": incident.component,
        "severity": incident.severity.value,
        "state": incident.state.value,
        "reason": one_line(redact_text(incident.reason)),
        "started_at": round(incident.started_at, 3),
        "updated_at": round(incident.updated_at, 3),
        "last_update": None if update is None else one_line(redact_text(update)),
        "acknowledged_by": incident.acknowledged_by,
        "flapping": incident.flapping,
    }


def _worse(current: str | None, new: str) -> str:
    return new if current is None or _RANK[new] > _RANK[current] else current


def public_services(
    *,
    registry: BreakerRegistry | None,
    health: HealthRegistry | None,
    store: IncidentStore | None,
) -> dict[str, Any]:
    """The public status: overall and per service, with no detail of any failure.

    A service is the worst of what is known of it: its health component (OK
    operational, WARNING or UNKNOWN degraded, ERROR down), its breaker (open down,
    half-open degraded), its open incidents (P0 or P1 down, P2 or P3 degraded). The
    overall status is operational when every service is, down when every one is
    down, else degraded.
    """
    services: dict[str, str] = {}
    if health is not None:
        for name, component in health.latest().items():
            services[name] = _worse(services.get(name), _HEALTH[component.status])
    if registry is not None:
        for name, snap in registry.snapshot().items():
            services[name] = _worse(services.get(name), _BREAKER.get(snap.state.name, OPERATIONAL))
    if store is not None:
        for incident in _open(store):
            state = DOWN if incident.severity in _URGENT else DEGRADED
            services[incident.component] = _worse(services.get(incident.component), state)
    states = set(services.values())
    if not states or states == {OPERATIONAL}:
        overall = OPERATIONAL
    elif states == {DOWN}:
        overall = DOWN
    else:
        overall = DEGRADED
    return {
        "status": overall,
        "services": [{"name": n, "status": s} for n, s in sorted(services.items())],
    }
