"""An incident's lifecycle: its states, the entries of its timeline, its target breaches."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from resilience._core.errors import ResilienceError
from resilience._core.redact import redact_text

__all__ = [
    "Breach",
    "EntryKind",
    "IncidentError",
    "IncidentState",
    "Severity",
    "Target",
    "TimelineEntry",
    "UnknownIncidentError",
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

    def raised(self) -> Severity:
        """The next more urgent severity (P0 stays P0)."""
        return Severity(f"P{max(int(self.value[1]) - 1, 0)}")

    @classmethod
    def parse(cls, value: Severity | str, *, field: str = "severity") -> Severity:
        """``value`` as a severity; a clear ValueError naming ``field`` otherwise."""
        if isinstance(value, Severity):
            return value
        try:
            return cls(value.upper() if isinstance(value, str) else value)
        except ValueError:
            raise ValueError(f"{field} must be one of P0, P1, P2, P3, got {value!r}") from None


class IncidentState(enum.Enum):
    """Where an incident is in its lifecycle: open, then acknowledged, then resolved."""

    OPEN = "open"
    """Nobody has taken it yet: it escalates when its response target passes."""
    ACKNOWLEDGED = "acknowledged"
    """A person has taken it: no more escalation, the resolution target still runs."""
    RESOLVED = "resolved"
    """Over: resolved by a successful recovery or by a person. It may be re-opened."""


class EntryKind(enum.Enum):
    """What one timeline entry records."""

    DETECTED = "detected"
    ACTION = "action"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    NOTE = "note"
    SEVERITY_RAISED = "severity raised"
    BREACHED = "breached"
    RECURRED = "recurred"
    """The same failure again, within the de-duplication window: folded into this one."""
    FLAPPING = "flapping"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class Target(enum.Enum):
    """The two targets of a severity."""

    RESPONSE = "response"
    """Acknowledged within it."""
    RESOLUTION = "resolution"
    """Resolved within it."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened to an incident, when, and who did it."""

    at: float
    """Seconds since the epoch."""
    kind: EntryKind
    text: str
    """What happened, for a person: redacted of secrets."""
    by: str = "recovery"
    """Who: ``"recovery"`` for the manager, else the person (or tool) named."""

    def __post_init__(self) -> None:
        if self.text:
            object.__setattr__(self, "text", redact_text(self.text))  # frozen: set once

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"at": self.at, "kind": self.kind.value, "text": self.text, "by": self.by}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`."""
        return cls(data["at"], EntryKind(data["kind"]), data["text"], data["by"])


@dataclass(frozen=True, slots=True)
class Breach:
    """A target missed: the incident was not acknowledged (or resolved) by ``due_at``."""

    target: Target
    severity: Severity
    """The severity whose target it was."""
    due_at: float
    """When the target fell due, seconds since the epoch."""
    at: float
    """When the breach was noticed (a check of the targets)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "target": self.target.value,
            "severity": self.severity.value,
            "due_at": self.due_at,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`."""
        return cls(Target(data["target"]), Severity(data["severity"]), data["due_at"], data["at"])


class IncidentError(ResilienceError):
    """An operation on an incident that its state does not allow."""


class UnknownIncidentError(IncidentError, KeyError):
    """No incident of that id in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown incident"
