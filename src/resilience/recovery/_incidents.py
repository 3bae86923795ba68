"""Incidents: what failed, what was tried, how it ended, who handled it; the store protocols.

An incident is a frozen record; every change (an acknowledgement, a note, a breach) is a
new record replacing the old one in its store, in one transaction
(:meth:`MutableIncidentStore.update`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, Self, runtime_checkable

from resilience._core.redact import redact_text
from resilience.recovery._timeline import (
    Breach,
    EntryKind,
    IncidentState,
    Severity,
    TimelineEntry,
)

__all__ = [
    "ActionRecord",
    "Incident",
    "IncidentStore",
    "MutableIncidentStore",
    "NotifierRecord",
    "Resolution",
    "Severity",
    "from_run",
    "iso",
]

SCHEMA = 2
"""The version of :meth:`Incident.to_dict`'s shape; 1 had no lifecycle (no ``state``)."""


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
    state: IncidentState = IncidentState.OPEN
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    """When it was resolved (by recovery or a person); None while not resolved."""
    resolved_by: str | None = None
    """``"recovery"`` when a recovery resolved it, else the person named."""
    updated_at: float = 0.0
    """When the record last changed; ``ended_at`` until then."""
    timeline: tuple[TimelineEntry, ...] = ()
    breaches: tuple[Breach, ...] = ()
    escalation_tier: int = 0
    """How many tiers of the escalation policy were told (0: the first notification only)."""
    occurrences: int = 1
    """Recoveries folded into this incident (the same failure within the de-duplication
    window counts again here instead of opening another incident)."""
    flapping: bool = False
    """The component opened and resolved incidents too often lately: it pages once."""
    fingerprint: str = ""
    """What de-duplication matches: the component and the trigger, by default."""
    notified_at: float | None = None
    """When the notifiers were last told of it (for the cool-down); None: never."""

    def __post_init__(self) -> None:
        # Errors quoted here are posted to webhooks, logged and kept: secrets in them go
        # when the incident is made, so that none of those can show them.
        _redact_fields(self, "reason", "detail")
        if not self.updated_at:
            object.__setattr__(self, "updated_at", self.ended_at)
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", f"{self.component}: {self.reason}")

    @property
    def is_open(self) -> bool:
        """Whether it is not resolved (open or acknowledged)."""
        return self.state is not IncidentState.RESOLVED

    def with_entries(self, *entries: TimelineEntry) -> Incident:
        """A copy with ``entries`` appended to the timeline (and ``updated_at`` moved on)."""
        at = max((e.at for e in entries), default=self.updated_at)
        return replace(self, timeline=self.timeline + entries, updated_at=max(at, self.updated_at))

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
            f"  started: {iso(self.started_at)}",
        ]
        if self.state is not IncidentState.OPEN or self.flapping or self.occurrences > 1:
            by = self.resolved_by or self.acknowledged_by
            lines.append(
                f"  state: {self.state.value}{f' by {by}' if by else ''}"
                f"{'; flapping' if self.flapping else ''}"
                f"{f'; seen {self.occurrences} times' if self.occurrences > 1 else ''}"
            )
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
            "schema": SCHEMA,
            "state": self.state.value,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
            "updated_at": self.updated_at,
            "timeline": [e.to_dict() for e in self.timeline],
            "breaches": [b.to_dict() for b in self.breaches],
            "escalation_tier": self.escalation_tier,
            "occurrences": self.occurrences,
            "flapping": self.flapping,
            "fingerprint": self.fingerprint,
            "notified_at": self.notified_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`; also reads schema 1 (no lifecycle yet).

        A schema-1 incident that recovered is resolved by recovery at its end; any other
        is open (nobody acknowledged it); its timeline is made from its actions.
        """
        incident = cls(
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
        if data.get("schema", 1) < SCHEMA:
            return replace(incident, **_lifecycle_of(from_run(incident)))
        return replace(
            incident,
            state=IncidentState(data["state"]),
            acknowledged_at=data["acknowledged_at"],
            acknowledged_by=data["acknowledged_by"],
            resolved_at=data["resolved_at"],
            resolved_by=data["resolved_by"],
            updated_at=data["updated_at"],
            timeline=tuple(TimelineEntry.from_dict(e) for e in data["timeline"]),
            breaches=tuple(Breach.from_dict(b) for b in data["breaches"]),
            escalation_tier=data["escalation_tier"],
            occurrences=data["occurrences"],
            flapping=data["flapping"],
            fingerprint=data["fingerprint"],
            notified_at=data["notified_at"],
        )


def _lifecycle_of(incident: Incident) -> dict[str, Any]:
    return {
        "state": incident.state,
        "resolved_at": incident.resolved_at,
        "resolved_by": incident.resolved_by,
        "timeline": incident.timeline,
        "notified_at": incident.ended_at if incident.notifications else None,
    }


def from_run(incident: Incident) -> Incident:
    """``incident`` (just made by a recovery, or of schema 1) with its state and timeline.

    Detected at its start, each action, and resolved by recovery at its end if it
    recovered; else open. (The first notification's results are its ``notifications``;
    the timeline has those of later ones: escalations.)
    """
    entries = [TimelineEntry(incident.started_at, EntryKind.DETECTED, incident.reason)]
    entries += [
        TimelineEntry(
            a.at,
            EntryKind.ACTION,
            f"stage {a.stage} attempt {a.attempt}: {a.action} "
            f"{'worked' if a.ok else 'failed'}: {a.outcome}",
        )
        for a in incident.actions
    ]
    changes: dict[str, Any] = {}
    if incident.resolution is Resolution.RECOVERED:
        entries.append(TimelineEntry(incident.ended_at, EntryKind.RESOLVED, incident.detail))
        changes = {
            "state": IncidentState.RESOLVED,
            "resolved_at": incident.ended_at,
            "resolved_by": "recovery",
        }
    return replace(incident, timeline=tuple(entries), **changes)


def _redact_fields(record: object, *names: str) -> None:
    for name in names:
        text = getattr(record, name)
        if text:
            object.__setattr__(record, name, redact_text(text))  # frozen: set once, here


def iso(epoch: float) -> str:
    """``epoch`` seconds as an ISO 8601 UTC time, to the second."""
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


@runtime_checkable
class MutableIncidentStore(IncidentStore, Protocol):
    """A store whose incidents can change: acknowledged, escalated, noted, resolved.

    The memory, SQLite and PostgreSQL stores implement it; the lifecycle (operators,
    targets, de-duplication) needs it.
    """

    def get(self, incident_id: str) -> Incident:
        """The incident of that id; :class:`UnknownIncidentError` if none."""

    def update(self, incident_id: str, change: Callable[[Incident], Incident]) -> Incident:
        """Replace the incident by ``change(incident)``, atomically; the new incident.

        ``change`` may be called under the store's lock or transaction: it must be a
        quick, pure function. It may raise to change nothing.
        """

    def append(self, incident_id: str, *entries: TimelineEntry) -> Incident:
        """Add ``entries`` to the incident's timeline, atomically; the new incident."""

    def open_incidents(self, component: str | None = None) -> list[Incident]:
        """The incidents not resolved (of ``component``, or all), oldest first."""
