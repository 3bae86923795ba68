"""What every channel says about an incident, in the runbooks' words.

A person paged at night needs five things: what failed, how urgent it is, what was
already tried, since when, and what to do next. Each channel lays these out its own way
(Block Kit, an e-mail, a Telegram message, a PagerDuty summary); this module decides
what they are, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from resilience.recovery._incidents import Incident, Resolution, Severity

__all__ = ["Message", "message_for"]

_URGENCY = {
    Severity.P0: "P0 critical: everyone, now",
    Severity.P1: "P1 high: respond within the hour",
    Severity.P2: "P2 medium: today",
    Severity.P3: "P3 low: the next working day",
}

_STATE = {
    Resolution.RECOVERED: "recovered automatically",
    Resolution.ESCALATED: "automatic recovery failed",
    Resolution.SUSPENDED: "recovery suspended",
    Resolution.BUDGET_EXHAUSTED: "automatic recovery stopped (restart budget spent)",
    Resolution.CANCELLED: "recovery cancelled",
}

_NEXT = {
    Resolution.RECOVERED: (
        "Nothing urgent: {component} passed its verification. If it keeps happening, "
        "look for the cause in the trigger and the actions below."
    ),
    Resolution.ESCALATED: (
        "Acknowledge the incident, then look at {component} by hand: every automatic "
        "action failed, the last outcome is below. Resolve the incident once it is healthy."
    ),
    Resolution.SUSPENDED: (
        "Recovery of {component} is suspended, so someone is on it: check with them before "
        "acting, and resume recovery when done."
    ),
    Resolution.BUDGET_EXHAUSTED: (
        "{component} failed too often for automatic restarts: find why it keeps failing "
        "before resuming recovery; restarting it again will not help."
    ),
    Resolution.CANCELLED: (
        "The application stopped during the recovery of {component}: check its state "
        "after the restart."
    ),
}


@dataclass(frozen=True, slots=True)
class Message:
    """The parts of a notification, ready for any channel to lay out."""

    title: str
    """``[P0] payments-db: automatic recovery failed``."""
    severity: str
    """The severity and what it asks of people."""
    what_failed: str
    """The trigger: what the health check or the caller saw."""
    since: str
    """When it started (UTC, ISO 8601) and how long it took."""
    tried: tuple[str, ...]
    """One line per action run, in order: ``stage 1 attempt 1: reconnect failed (...)``."""
    next_step: str
    """What a person should do now."""
    incident_id: str

    def lines(self) -> list[str]:
        """The message as plain text lines: e-mail bodies, Telegram, fallbacks."""
        lines = [
            self.title,
            "",
            f"Severity: {self.severity}",
            f"What failed: {self.what_failed}",
            f"Since: {self.since}",
            "What was tried:",
        ]
        lines += [f"  - {line}" for line in self.tried] or ["  (nothing: no action ran)"]
        lines += ["", f"What to do next: {self.next_step}", "", f"Incident {self.incident_id}"]
        return lines

    def text(self) -> str:
        """The message as plain text."""
        return "\n".join(self.lines())


def message_for(incident: Incident) -> Message:
    """The message for ``incident``, whatever channel carries it."""
    started = datetime.fromtimestamp(incident.started_at, UTC).isoformat(timespec="seconds")
    tried = tuple(
        f"stage {a.stage} attempt {a.attempt}: {a.action} {'ok' if a.ok else 'failed'} "
        f"after {a.duration:.1f} s: {a.outcome}"
        for a in incident.actions
    )
    since = f"{started} ({_took(incident.duration)}); {incident.detail}"
    if incident.occurrences > 1:
        since += f"; failed {incident.occurrences} times"
    if incident.acknowledged_by is not None:
        since += f"; acknowledged by {incident.acknowledged_by}"
    flapping = " (flapping)" if incident.flapping else ""
    return Message(
        title=(
            f"[{incident.severity.value}] {incident.component}: "
            f"{_STATE[incident.resolution]}{flapping}"
        ),
        severity=_URGENCY[incident.severity],
        what_failed=incident.reason,
        since=since,
        tried=tried,
        next_step=_NEXT[incident.resolution].format(component=incident.component),
        incident_id=incident.id,
    )


def _took(duration: float) -> str:
    minutes, secs = divmod(round(max(duration, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"recovery ran {hours} h {minutes} min"
    if minutes:
        return f"recovery ran {minutes} min {secs} s"
    return f"recovery ran {secs} s"
