"""The lifecycle's transitions, as pure functions from one incident record to the next.

Open -> acknowledged -> resolved, re-opened, noted, made more urgent, checked against its
targets. Each returns the new record (or raises :class:`IncidentError` for a transition
its state does not allow); the stores apply them atomically with ``update``.
"""

from __future__ import annotations

from dataclasses import replace

from resilience._core.text import one_line
from resilience.recovery._incidents import Incident, iso
from resilience.recovery._targets import EscalationTier, IncidentPolicy
from resilience.recovery._timeline import (
    Breach,
    EntryKind,
    IncidentError,
    IncidentState,
    Severity,
    Target,
    TimelineEntry,
)

__all__ = [
    "CHECKER",
    "acknowledge",
    "check",
    "note",
    "opened_at",
    "raise_severity",
    "reopen",
    "resolve",
]

CHECKER = "targets"
"""Who the timeline names for what a check of the targets did."""
_OPEN, _ACKED, _RESOLVED = IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.RESOLVED
_REOPEN_FIRST = "re-open it first if it is back"


def _who(by: str) -> str:
    who = one_line(by).strip() if isinstance(by, str) else ""
    if not who:
        raise ValueError(f"by must name who does it (a person or a tool), got {by!r}")
    return who


def _refuse(incident: Incident, doing: str, hint: str) -> IncidentError:
    return IncidentError(
        f"incident {incident.id} of {incident.component} cannot be {doing}: it is "
        f"{incident.state.value}; {hint}"
    )


def _already(incident: Incident, *, at: float) -> IncidentError:
    """The refusal of a move to the state ``incident`` is in: who put it there, and when."""
    if incident.state is _ACKED:
        by, did, when = incident.acknowledged_by, "took", incident.acknowledged_at
    else:
        by, did, when = incident.resolved_by, "resolved", incident.resolved_at
    # The state's name is also the refused transition's: "cannot be resolved: it is resolved".
    return _refuse(incident, incident.state.value, f"{by} {did} it at {iso(when or at)}")


def opened_at(incident: Incident) -> float:
    """When the incident was (last) opened: its start, or its last re-opening."""
    for entry in reversed(incident.timeline):
        if entry.kind is EntryKind.REOPENED:
            return entry.at
    return incident.started_at


def acknowledge(incident: Incident, *, by: str, at: float, text: str = "") -> Incident:
    """Taken by ``by``: escalation stops; the resolution target still runs."""
    who = _who(by)
    if incident.state is _ACKED:
        raise _already(incident, at=at)
    if incident.state is _RESOLVED:
        raise _refuse(incident, "acknowledged", _REOPEN_FIRST)
    entry = TimelineEntry(at, EntryKind.ACKNOWLEDGED, text or f"acknowledged by {who}", who)
    return replace(
        incident.with_entries(entry), state=_ACKED, acknowledged_at=at, acknowledged_by=who
    )


def resolve(incident: Incident, *, by: str, at: float, text: str = "") -> Incident:
    """Over: resolved by ``by`` (``"recovery"`` when a recovery worked)."""
    who = _who(by)
    if incident.state is _RESOLVED:
        raise _already(incident, at=at)
    entry = TimelineEntry(at, EntryKind.RESOLVED, text or f"resolved by {who}", who)
    return replace(incident.with_entries(entry), state=_RESOLVED, resolved_at=at, resolved_by=who)


def reopen(incident: Incident, *, by: str, at: float, text: str = "") -> Incident:
    """Open again: the failure is back. Its targets and escalation start over."""
    who = _who(by)
    if incident.state is not _RESOLVED:
        raise _refuse(incident, "re-opened", "only a resolved incident is re-opened")
    entry = TimelineEntry(at, EntryKind.REOPENED, text or f"re-opened by {who}", who)
    return replace(
        incident.with_entries(entry),
        state=_OPEN,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        escalation_tier=0,
    )


def note(incident: Incident, *, by: str, at: float, text: str) -> Incident:
    """A note on the timeline, in any state."""
    who = _who(by)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a note needs some text, got {text!r}")
    return incident.with_entries(TimelineEntry(at, EntryKind.NOTE, text.strip(), who))


def raise_severity(
    incident: Incident, *, by: str, at: float, to: Severity | str | None = None, text: str = ""
) -> Incident:
    """More urgent: ``to`` (one step by default); its targets become that severity's."""
    who = _who(by)
    new = incident.severity.raised() if to is None else Severity.parse(to, field="to")
    if incident.state is _RESOLVED:
        raise _refuse(incident, "made more urgent", _REOPEN_FIRST)
    if new.at_least(incident.severity):
        if new is incident.severity:
            raise IncidentError(
                f"incident {incident.id} of {incident.component} is already {new.value}"
                + ("; P0 is the most urgent" if new is Severity.P0 else "")
            )
    else:
        raise IncidentError(
            f"incident {incident.id} is {incident.severity.value}; {new.value} is less "
            "urgent, and severities are only raised"
        )
    said = text or f"{incident.severity.value} -> {new.value}"
    entry = TimelineEntry(at, EntryKind.SEVERITY_RAISED, said, who)
    return replace(incident.with_entries(entry), severity=new)


def check(
    incident: Incident, *, at: float, policy: IncidentPolicy
) -> tuple[Incident, tuple[EscalationTier, ...]]:
    """Record the targets missed by ``at`` and escalate; the tiers newly reached."""
    if incident.state is _RESOLVED:
        return incident, ()
    since = opened_at(incident)
    reached: list[EscalationTier] = []
    tiers = policy.escalation.tiers if policy.escalation is not None else ()
    while True:
        targets = policy.targets.of(incident.severity)
        due = since + targets.response
        if incident.state is _OPEN:
            incident = _breach(incident, Target.RESPONSE, due, since, at)
        incident = _breach(incident, Target.RESOLUTION, since + targets.resolution, since, at)
        k = incident.escalation_tier
        if incident.state is not _OPEN or k >= len(tiers) or at < due + tiers[k].after:
            return incident, tuple(reached)
        tier = tiers[k]
        reached.append(tier)
        told = ", ".join(repr(n) for n in tier.notifiers) or "no one more"
        entry = TimelineEntry(
            at,
            EntryKind.ESCALATED,
            f"tier {k + 1} of {len(tiers)}: not acknowledged within the {incident.severity.value} "
            f"response target ({targets.response:g} s); telling {told}",
            CHECKER,
        )
        incident = replace(incident.with_entries(entry), escalation_tier=k + 1)
        if tier.raise_severity and incident.severity is not Severity.P0:
            raised = incident.severity.raised()
            text = f"{incident.severity.value} -> {raised.value} (escalation tier {k + 1})"
            incident = raise_severity(incident, by=CHECKER, at=at, to=raised, text=text)


def _breach(incident: Incident, target: Target, due: float, since: float, at: float) -> Incident:
    """``incident`` with ``target`` recorded as missed, once per opening, if it is."""
    # Strictly after the opening: a breach noticed at the instant of a re-opening was the
    # earlier opening's (every target is more than 0 s).
    if at < due or any(b.target is target and b.at > since for b in incident.breaches):
        return incident
    sev = incident.severity
    entry = TimelineEntry(
        at,
        EntryKind.BREACHED,
        f"{sev.value} {target.value} target missed: due at {iso(due)}",
        CHECKER,
    )
    breach = Breach(target, sev, due, at)
    return replace(incident.with_entries(entry), breaches=(*incident.breaches, breach))
