"""Health, as statuses and results: of the application, of one component, of one check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from resilience._core.enums import ReadableEnum
from resilience._core.events import INFO, WARNING, Event

__all__ = [
    "CheckResult",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "HealthStatus",
]


class HealthStatus(ReadableEnum):
    """The application's overall health."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"


class ComponentStatus(ReadableEnum):
    """One component's health."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"
    """The check did not answer (it timed out, or has not run yet)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check may return for more than ok / not ok."""

    status: ComponentStatus
    message: str = ""
    details: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """The latest known health of one component."""

    name: str
    status: ComponentStatus
    message: str
    critical: bool
    last_checked: float
    """Wall-clock time (epoch seconds) the check finished or timed out."""
    duration: float
    """Seconds the check took (its timeout, if it overran)."""
    auto_recoverable: bool
    """Whether the failure is of a kind that passes by itself (a RETRYABLE error)."""
    details: Mapping[str, object] | None = None
    cached: bool = False


# A component that failed, or did not answer, is worth a warning.
_BAD: Final = frozenset({ComponentStatus.ERROR, ComponentStatus.UNKNOWN})


@dataclass(frozen=True, slots=True)
class ComponentChanged(Event):
    """A component's status changed between two reports."""

    name: str
    old: ComponentStatus | None
    new: ComponentStatus
    message: str

    event_name = "health.changed"

    @property
    def level(self) -> int:
        """WARNING when the component is now ERROR or UNKNOWN, else INFO."""
        return WARNING if self.new in _BAD else INFO

    def describe(self) -> str:
        """``health of 'db' OK -> ERROR: connection refused``."""
        old = None if self.old is None else self.old.name
        return f"health of {self.name!r} {old or 'new'} -> {self.new.name}: {self.message}"

    def fields(self) -> dict[str, object]:
        """The component, both statuses' names (the old is None when new) and the message."""
        return {
            "event": self.event_name,
            "component": self.name,
            "old_status": None if self.old is None else self.old.name,
            "new_status": self.new.name,
            "message": self.message,
        }
