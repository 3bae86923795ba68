"""The health report: every component's health, the aggregate, and its renderings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from resilience._core.clock import wall_time
from resilience.health._status import ComponentHealth, ComponentStatus, HealthStatus

__all__ = ["HealthReport", "aggregate"]

_OK: Final = ComponentStatus.OK
_WARNING: Final = ComponentStatus.WARNING
_ERROR: Final = ComponentStatus.ERROR
_UNKNOWN: Final = ComponentStatus.UNKNOWN
_IETF_STATUS: Final = {_OK: "pass", _WARNING: "warn", _ERROR: "fail", _UNKNOWN: "warn"}
_IETF_OVERALL: Final = {
    HealthStatus.HEALTHY: "pass",
    HealthStatus.DEGRADED: "warn",
    HealthStatus.CRITICAL: "fail",
}


def aggregate(components: Iterable[ComponentHealth]) -> HealthStatus:
    """CRITICAL if a critical component is ERROR or UNKNOWN; DEGRADED if any is not OK."""
    status = HealthStatus.HEALTHY
    for c in components:
        if c.status is _OK:
            continue
        if c.critical and c.status in (_ERROR, _UNKNOWN):
            return HealthStatus.CRITICAL
        status = HealthStatus.DEGRADED
    return status


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The health of every component checked, and the aggregate."""

    status: HealthStatus
    components: Mapping[str, ComponentHealth]
    checked_at: float = field(default_factory=wall_time)

    @property
    def http_status(self) -> int:
        """503 when CRITICAL (take the instance out of rotation), else 200."""
        return 503 if self.status is HealthStatus.CRITICAL else 200

    def to_dict(self, *, details: bool = True) -> dict[str, Any]:
        """The IETF "Health Check Response Format for HTTP APIs" shape.

        Args:
            details: Include messages and details; leave out for untrusted callers.
        """
        checks: dict[str, list[dict[str, Any]]] = {}
        for c in self.components.values():
            entry: dict[str, Any] = {
                "componentId": c.name,
                "status": _IETF_STATUS[c.status],
                "time": _iso(c.last_checked),
            }
            if details:
                entry["observedValue"] = c.status.value
                entry["output"] = c.message
                entry["critical"] = c.critical
                entry["durationSeconds"] = round(c.duration, 6)
                entry["autoRecoverable"] = c.auto_recoverable
                if c.details:
                    entry["details"] = dict(c.details)
            checks[c.name] = [entry]
        return {"status": _IETF_OVERALL[self.status], "checks": checks}

    def render(self) -> str:
        """A readable report for terminals and logs."""
        lines = [f"health: {self.status.name} ({len(self.components)} components)"]
        width = max((len(name) for name in self.components), default=0)
        for c in self.components.values():
            flags = ""
            if c.status is not _OK:
                flags += " critical" if c.critical else ""
                flags += " auto-recoverable" if c.auto_recoverable else ""
            message = f"  {c.message}" if c.message else ""
            lines.append(
                f"  {c.name:<{width}}  {c.status.name:<7} {c.duration * 1000:7.1f} ms"
                f"{flags}{message}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
