"""Incidents: what failed, what was tried, how it ended; the store protocol, and memory."""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, runtime_checkable

from resilience._core.redact import redact_text

__all__ = [
    "ActionRecord",
    "Incident",
    "IncidentStore",
    "MemoryIncidentStore",
    "NotifierRecord",
    "Resolution",
    "Severity",
]


class Severity(enum.Enum):
    """How urgent an incident is: P0 (everyone, now) to P3 (the next working day)."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    def at_least(self, other: Severity) -> bool:
        """Whether this is as urgent as ``other`` or more (P0 is the most urgent)."""
        return self.value <= other.value


class Resolution(enum.Enum):
    """How an incident ended."""

    RECOVERED = "recovered"
    """An action worked: the component passed its verification."""
    ESCALATED = "escalated"
    """Every stage failed; the notifiers were told."""
    SUSPENDED = "suspended"
    """Recovery of the component is suspended: a person is handling it."""
    BUDGET_EXHAUSTED = "budget exhausted"
    """Too many recoveries in the budget's period: automatic recovery stopped."""
    CANCELLED = "cancelled"
    """The task running the recovery was cancelled (the application shut down)."""


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One run of one recovery action, and what came of it."""

    action: str
    stage: int
    """1 for the first stage."""
    attempt: int
    """1 for the stage's first attempt."""
    at: float
    """When it started, in seconds since the epoch."""
    duration: float
    ok: bool
    outcome: str
    """What happened: the verification's message, or the error."""

    def __post_init__(self) -> None:
        _redact_fields(self, "outcome")


@dataclass(frozen=True, slots=True)
class NotifierRecord:
    """One notifier told of an incident, and whether that worked."""

    notifier: str
    ok: bool
    error: str | None = None

    def __post_init__(self) -> None:
        _redact_fields(self, "error")


@dataclass(frozen=True, slots=True)
class Incident:
    """One staged recovery of one component, from its trigger to its resolution."""

    id: str
    component: str
    reason: str
    """What triggered it."""
    severity: Severity
    started_at: float
    """Seconds since the epoch."""
    ended_at: float
    resolution: Resolution
    detail: str
    """Why it ended as it did."""
    actions: tuple[ActionRecord, ...] = ()
    notifications: tuple[NotifierRecord, ...] = ()

    def __post_init__(self) -> None:
        # Errors quoted here are posted to webhooks, logged and kept: secrets in them go
        # when the incident is made, so that none of those can show them.
        _redact_fields(self, "reason", "detail")

    @property
    def duration(self) -> float:
        """Seconds from the trigger to the resolution."""
        return self.ended_at - self.started_at

    def summary(self) -> str:
        """A readable account: for a person paged at night, or a post-mortem."""
        lines = [
            (
                f"[{self.severity.value}] {self.component}: {self.resolution.value} after "
                f"{self.duration:.0f} s; {self.detail}"
            ),
            f"  trigger: {self.reason}",
            f"  started: {_iso(self.started_at)}",
        ]
        lines += [
            f"  stage {a.stage} attempt {a.attempt}: {a.action} "
            f"{'ok' if a.ok else 'failed'} ({a.duration:.1f} s): {a.outcome}"
            for a in self.actions
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what webhooks post and the SQLite store keeps."""
        return {
            "id": self.id,
            "component": self.component,
            "reason": self.reason,
            "severity": self.severity.value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "resolution": self.resolution.value,
            "detail": self.detail,
            "actions": [
                {
                    "action": a.action,
                    "stage": a.stage,
                    "attempt": a.attempt,
                    "at": a.at,
                    "duration": a.duration,
                    "ok": a.ok,
                    "outcome": a.outcome,
                }
                for a in self.actions
            ],
            "notifications": [
                {"notifier": n.notifier, "ok": n.ok, "error": n.error} for n in self.notifications
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=data["id"],
            component=data["component"],
            reason=data["reason"],
            severity=Severity(data["severity"]),
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            resolution=Resolution(data["resolution"]),
            detail=data["detail"],
            actions=tuple(ActionRecord(**a) for a in data["actions"]),
            notifications=tuple(NotifierRecord(**n) for n in data["notifications"]),
        )


def _redact_fields(record: object, *names: str) -> None:
    for name in names:
        text = getattr(record, name)
        if text:
            object.__setattr__(record, name, redact_text(text))  # frozen: set once, here


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@runtime_checkable
class IncidentStore(Protocol):
    """Where a :class:`~resilience.RecoveryManager` keeps its incidents."""

    def add(self, incident: Incident) -> None:
        """Keep ``incident``."""

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""

    def close(self) -> None:
        """Release what the store holds open."""


class MemoryIncidentStore:
    """Incidents in memory, for the life of the process (the default)."""

    __slots__ = ("_incidents", "_lock")

    def __init__(self) -> None:
        self._incidents: list[Incident] = []
        self._lock = threading.Lock()

    def add(self, incident: Incident) -> None:
        """Keep ``incident``."""
        with self._lock:
            self._incidents.append(incident)

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""
        with self._lock:
            return [i for i in self._incidents if component in (None, i.component)]

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryIncidentStore({len(self._incidents)} incidents)"
