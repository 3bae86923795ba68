"""A post-mortem skeleton in Markdown from one incident: the facts in, the rest left to people.

What the record knows (the summary, the timeline, the impact, the actions tried, who
acknowledged and resolved it) is written out; what only people know (the root cause,
what went well, the action items) is left as headings with prompts, so that the
review starts from the facts instead of from memory.
"""

from __future__ import annotations

from datetime import UTC, datetime

from resilience._core.text import one_line
from resilience.recovery._incidents import Incident
from resilience.recovery._timeline import IncidentState

__all__ = ["postmortem"]


def _at(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _took(seconds: float) -> str:
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _cell(text: str) -> str:
    return one_line(text).replace("|", "\\|")


def postmortem(incident: Incident, *, now: float | None = None) -> str:
    """The Markdown skeleton of a post-mortem of ``incident``.

    Args:
        incident: The incident, as its store keeps it.
        now: For an incident still open: the time its impact is counted to (seconds
            since the epoch); its last update by default.
    """
    until = incident.resolved_at
    if until is None:
        until = now if now is not None else incident.updated_at
    state = incident.state.value
    if incident.state is IncidentState.RESOLVED:
        state = f"resolved by {incident.resolved_by or 'unknown'} at {_at(incident.resolved_at)}"
    acknowledged = (
        f"{incident.acknowledged_by or 'unknown'} at {_at(incident.acknowledged_at)}"
        if incident.acknowledged_at is not None
        else "never"
    )
    lines = [
        (
            f"# Post-mortem: {one_line(incident.component)}, {incident.severity.value}, "
            f"{_at(incident.started_at)}"
        ),
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| Incident | `{_cell(incident.id)}` |",
        f"| Component | {_cell(incident.component)} |",
        f"| Severity | {incident.severity.value} |",
        f"| Trigger | {_cell(incident.reason)} |",
        f"| Detected | {_at(incident.started_at)} |",
        f"| Automatic recovery | {incident.resolution.value}: {_cell(incident.detail)} |",
        f"| Acknowledged | {acknowledged} |",
        f"| State | {state} |",
        "",
        "_In two or three sentences: what happened, who was affected, how it ended._",
        "",
        "## Impact",
        "",
        f"- Duration: {_took(until - incident.started_at)}"
        + (" (still open)" if incident.is_open else ""),
        f"- Occurrences folded into this incident: {incident.occurrences}",
    ]
    if incident.flapping:
        lines.append("- The component was flapping: it failed and recovered repeatedly.")
    lines += [
        f"- Target breached: {b.target.value} target of {b.severity.value}, due "
        f"{_at(b.due_at)}, noticed {_at(b.at)}"
        for b in incident.breaches
    ] or ["- No response or resolution target was breached."]
    lines += ["- _Users, requests or data affected: to be filled in._", ""]
    lines += ["## Timeline", "", "| time (UTC) | what | by | detail |", "|---|---|---|---|"]
    lines += [
        f"| {_at(e.at)} | {e.kind.value} | {_cell(e.by)} | {_cell(e.text)} |"
        for e in sorted(incident.timeline, key=lambda e: e.at)
    ] or [f"| {_at(incident.started_at)} | detected | recovery | {_cell(incident.reason)} |"]
    lines += ["", "## Actions tried", ""]
    if incident.actions:
        lines += [
            "| stage | attempt | action | result | took | outcome |",
            "|---:|---:|---|---|---:|---|",
        ]
        lines += [
            f"| {a.stage} | {a.attempt} | {_cell(a.action)} | {'ok' if a.ok else 'failed'} "
            f"| {a.duration:.1f} s | {_cell(a.outcome)} |"
            for a in incident.actions
        ]
    else:
        lines.append("No automatic action ran.")
    if incident.notifications:
        lines += ["", "## Who was told", ""]
        for n in incident.notifications:
            outcome = "delivered" if n.ok else f"failed ({_cell(n.error or '')})"
            lines.append(f"- {_cell(n.notifier)}: {outcome}")
    lines += [
        "",
        "## Root cause",
        "",
        "_Why it failed, and why recovery did or did not fix it: to be filled in._",
        "",
        "## What went well, what did not",
        "",
        "- _to be filled in_",
        "",
        "## Action items",
        "",
        "- [ ] Find and fix the root cause (owner, due date)",
        (
            "- [ ] Prevent a recurrence: a test, an alert or a recovery action that would have "
            "caught it"
        ),
        "- [ ] Review the severity and the targets: were they right for this failure?",
    ]
    if incident.breaches:
        lines.append("- [ ] Find out why the target was missed (paging, rota, escalation)")
    return "\n".join(lines) + "\n"
