"""Health checks: components, one aggregate report, probes, a monitor and feature gates.

Register checks on a :class:`HealthRegistry`, run them into a :class:`HealthReport`,
serve them as ``/livez``, ``/readyz`` and ``/health`` (:meth:`HealthRegistry.asgi_app`,
:meth:`HealthRegistry.wsgi_app`), run them periodically (:class:`HealthMonitor`) and
degrade features with a :class:`FeatureGate`.
"""

from __future__ import annotations

from resilience.health._gate import FeatureChanged, FeatureGate
from resilience.health._monitor import HealthMonitor
from resilience.health._registry import HealthRegistry
from resilience.health._report import HealthReport, aggregate
from resilience.health._status import (
    CheckResult,
    ComponentChanged,
    ComponentHealth,
    ComponentStatus,
    HealthStatus,
)

__all__ = [
    "CheckResult",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "FeatureChanged",
    "FeatureGate",
    "HealthMonitor",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "aggregate",
]
