"""Health, as statuses and results: of the application, of one component, of one check."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CheckResult",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "HealthStatus",
]


class HealthStatus(enum.Enum):
    """The application's overall health."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"

    def __repr__(self) -> str:
        return f"HealthStatus.{self.name}"


class ComponentStatus(enum.Enum):
    """One component's health."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"
    """The check did not answer (it timed out, or has not run yet)."""

    def __repr__(self) -> str:
        return f"ComponentStatus.{self.name}"


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


@dataclass(frozen=True, slots=True)
class ComponentChanged:
    """A component's status changed between two reports."""

    name: str
    old: ComponentStatus | None
    new: ComponentStatus
    message: str
