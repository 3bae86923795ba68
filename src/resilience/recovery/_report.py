"""Reports over a period: incidents by severity and failure type, MTTR, MTBF, availability.

The figures a post-mortem review or a monthly operations report asks for (SCENARIOS.md
3 and 5), computed from the incident records alone:

- **downtime** of a component: the union of its incidents' spans, from ``started_at``
  to ``resolved_at`` (to the period's end while still open), clipped to the period;
- **availability**: one minus downtime over the period's length;
- **MTTR**: the mean time from ``started_at`` to ``resolved_at`` of the incidents
  resolved in the period;
- **MTBF**: the time up (the period less the downtime) over the number of incidents;
- **recovery success rate**: the share of incidents that automatic recovery resolved,
  among those it tried (a suspended or cancelled recovery did not try);
- **breaches**: response and resolution targets missed, when the breach happened.

Only :mod:`resilience._core.clock` reads the time: a report's period is given.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from resilience._core.text import one_line
from resilience.recovery._incidents import Incident, Resolution, Severity

__all__ = ["ComponentFigures", "IncidentReport", "WeekFigures", "failure_type", "incident_report"]

WEEK = 7 * 24 * 3600.0
_TRIED = frozenset({Resolution.RECOVERED, Resolution.ESCALATED, Resolution.BUDGET_EXHAUSTED})


def failure_type(incident: Incident) -> str:
    """The failure type of an incident: its trigger up to the first ``:``.

    ``"health check: connection refused"`` is a ``"health check"`` failure. Pass your
    own to :func:`incident_report` to classify by something else.
    """
    head = incident.reason.partition(":")[0].strip()
    return (head or "unknown")[:60]


@dataclass(frozen=True, slots=True)
class ComponentFigures:
    """The figures of one component (or of all: ``component`` is ``"*"``) over a period."""

    component: str
    incidents: int
    by_severity: dict[str, int]
    by_failure_type: dict[str, int]
    downtime: float
    """Seconds during which an incident of it was unresolved."""
    availability: float
    """1.0 is always up."""
    mttr: float | None
    """Mean seconds to resolve; None when none was resolved in the period."""
    mtbf: float | None
    """Mean seconds up between failures; None without a failure."""
    recovery_success_rate: float | None
    """Share of tried recoveries that worked; None when none was tried."""
    recovered: int
    """Incidents automatic recovery resolved."""
    breaches: dict[str, int]
    """Missed targets by kind: ``{"response": 1, "resolution": 0}``."""
    open: int
    """Incidents still unresolved at the period's end."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "component": self.component,
            "incidents": self.incidents,
            "by_severity": dict(self.by_severity),
            "by_failure_type": dict(self.by_failure_type),
            "downtime": self.downtime,
            "availability": self.availability,
            "mttr": self.mttr,
            "mtbf": self.mtbf,
            "recovery_success_rate": self.recovery_success_rate,
            "recovered": self.recovered,
            "breaches": dict(self.breaches),
            "open": self.open,
        }


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One week of the trend, and how it compares with the week before."""

    start: float
    end: float
    incidents: int
    mttr: float | None
    availability: float
    change: int | None
    """Incidents more (+) or fewer (-) than the week before; None for the first week."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "start": self.start,
            "end": self.end,
            "incidents": self.incidents,
            "mttr": self.mttr,
            "availability": self.availability,
            "change": self.change,
        }


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """Incidents over a period: overall, per component, the worst, and the weekly trend."""

    start: float
    end: float
    overall: ComponentFigures
    components: tuple[ComponentFigures, ...]
    """Every component with an incident (or named), by name."""
    top_failing: tuple[ComponentFigures, ...]
    """The components with the most incidents (then the most downtime), worst first."""
    trend: tuple[WeekFigures, ...]
    """Week by week up to ``end``, oldest first."""

    def component(self, name: str) -> ComponentFigures:
        """The figures of one component; KeyError naming the known ones if absent."""
        for figures in self.components:
            if figures.component == name:
                return figures
        known = ", ".join(repr(f.component) for f in self.components) or "none"
        raise KeyError(f"no component {name!r} in the report; it has {known}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``python -m resilience report --format json`` prints."""
        return {
            "start": self.start,
            "end": self.end,
            "overall": self.overall.to_dict(),
            "components": [c.to_dict() for c in self.components],
            "top_failing": [c.component for c in self.top_failing],
            "trend": [w.to_dict() for w in self.trend],
        }

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """The report as Markdown, for a wiki page or a review."""
        return "\n".join(_markdown(self)) + "\n"


def _span(incident: Incident, start: float, end: float) -> tuple[float, float] | None:
    until = incident.resolved_at if incident.resolved_at is not None else end
    low, high = max(incident.started_at, start), min(until, end)
    return (low, high) if high > low else None


def _downtime(incidents: Iterable[Incident], start: float, end: float) -> float:
    spans = sorted(s for i in incidents if (s := _span(i, start, end)) is not None)
    total, reach = 0.0, start
    for low, high in spans:
        begin = max(low, reach)  # overlapping incidents count once
        if high > begin:
            total += high - begin
            reach = high
    return total


def _figures(
    name: str,
    pool: Sequence[Incident],
    *,
    start: float,
    end: float,
    kind: Callable[[Incident], str],
) -> ComponentFigures:
    """The figures of the incidents in ``pool`` over ``[start, end)``."""
    incidents = _within(pool, start, end)
    everything = _touching(pool, start, end)
    length = end - start
    downtime = _downtime(everything, start, end)
    resolved = [
        i.resolved_at - i.started_at
        for i in incidents
        if i.resolved_at is not None and i.resolved_at <= end
    ]
    tried = [i for i in incidents if i.resolution in _TRIED]
    recovered = sum(1 for i in tried if i.resolution is Resolution.RECOVERED)
    breaches = Counter(
        b.target.value for i in everything for b in i.breaches if start <= b.at < end
    )
    severities = Counter(i.severity.value for i in incidents)
    return ComponentFigures(
        component=name,
        incidents=len(incidents),
        by_severity={s.value: severities.get(s.value, 0) for s in Severity},
        by_failure_type=dict(Counter(kind(i) for i in incidents).most_common()),
        downtime=downtime,
        availability=1.0 - downtime / length,
        mttr=sum(resolved) / len(resolved) if resolved else None,
        mtbf=(length - downtime) / len(incidents) if incidents else None,
        recovery_success_rate=recovered / len(tried) if tried else None,
        recovered=recovered,
        breaches={
            "response": breaches.get("response", 0),
            "resolution": breaches.get("resolution", 0),
        },
        open=sum(1 for i in everything if i.started_at < end and (i.resolved_at or end + 1) > end),
    )


def _within(incidents: Iterable[Incident], start: float, end: float) -> list[Incident]:
    return [i for i in incidents if start <= i.started_at < end]


def _touching(incidents: Iterable[Incident], start: float, end: float) -> list[Incident]:
    """Incidents that were unresolved at some time in the period, or breached in it."""
    return [
        i
        for i in incidents
        if i.started_at < end
        and (
            i.resolved_at is None or i.resolved_at > start or any(start <= b.at for b in i.breaches)
        )
    ]


def incident_report(
    incidents: Iterable[Incident],
    *,
    start: float,
    end: float,
    components: Iterable[str] = (),
    top: int = 5,
    weeks: int = 4,
    kind: Callable[[Incident], str] = failure_type,
) -> IncidentReport:
    """The report of ``incidents`` over ``[start, end)`` (seconds since the epoch).

    Args:
        incidents: Every incident kept (a store's ``incidents()``); those outside the
            period are left out, those open across its start count for their downtime.
        start: The period's start.
        end: Its end, after ``start``.
        components: Components to report even without an incident (their availability
            is then 1.0).
        top: How many of the worst components to list.
        weeks: How many weeks of trend, ending at ``end``.
        kind: The failure type of an incident; :func:`failure_type` by default.

    Raises:
        ValueError: ``end`` is not after ``start``, or ``top`` or ``weeks`` is negative.
    """
    if not end > start:
        raise ValueError(f"end must be after start, got start={start!r}, end={end!r}")
    if top < 0 or weeks < 0:
        raise ValueError(f"top and weeks must be 0 or more, got top={top!r}, weeks={weeks!r}")
    every = list(incidents)
    touching = _touching(every, start, end)
    names = sorted({i.component for i in touching} | set(components))
    per = tuple(
        _figures(name, [i for i in every if i.component == name], start=start, end=end, kind=kind)
        for name in names
    )
    overall = _figures("*", every, start=start, end=end, kind=kind)
    worst = sorted((f for f in per if f.incidents), key=lambda f: (-f.incidents, -f.downtime))
    trend: list[WeekFigures] = []
    for back in range(weeks, 0, -1):
        low, high = end - back * WEEK, end - (back - 1) * WEEK
        week = _figures("*", every, start=low, end=high, kind=kind)
        previous = trend[-1].incidents if trend else None
        trend.append(
            WeekFigures(
                start=low,
                end=high,
                incidents=week.incidents,
                mttr=week.mttr,
                availability=week.availability,
                change=None if previous is None else week.incidents - previous,
            )
        )
    return IncidentReport(
        start=start,
        end=end,
        overall=overall,
        components=per,
        top_failing=tuple(worst[:top]),
        trend=tuple(trend),
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(value: float | None) -> str:
    if value is None:
        return "-"
    minutes = value / 60
    if minutes < 120:  # noqa: PLR2004
        return f"{minutes:.1f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 72 else f"{hours / 24:.1f} d"  # noqa: PLR2004


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3%}"


def _markdown(report: IncidentReport) -> list[str]:
    o = report.overall
    lines = [
        f"# Incident report, {_iso(report.start)} to {_iso(report.end)}",
        "",
        f"- Incidents: {o.incidents} ({', '.join(f'{k} {v}' for k, v in o.by_severity.items())})",
        f"- Still open at the end: {o.open}",
        f"- Availability (no component down): {_share(o.availability)}",
        f"- MTTR: {_duration(o.mttr)}; MTBF: {_duration(o.mtbf)}",
        f"- Recovery success rate: {_share(o.recovery_success_rate)} ({o.recovered} recovered)",
        (
            f"- Targets breached: response {o.breaches['response']}, "
            f"resolution {o.breaches['resolution']}"
        ),
        "",
        "## By failure type",
        "",
        "| failure type | incidents |",
        "|---|---:|",
    ]
    lines += [f"| {_cell(k)} | {v} |" for k, v in o.by_failure_type.items()] or ["| - | 0 |"]
    lines += [
        "",
        "## Components",
        "",
        (
            "| component | incidents | P0 | P1 | P2 | P3 | availability | MTTR | MTBF "
            "| recovery success | breaches |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report.components:
        sev = " | ".join(str(c.by_severity[s.value]) for s in Severity)
        lines.append(
            f"| {_cell(c.component)} | {c.incidents} | {sev} | {_share(c.availability)} "
            f"| {_duration(c.mttr)} | {_duration(c.mtbf)} | {_share(c.recovery_success_rate)} "
            f"| {sum(c.breaches.values())} |"
        )
    lines += ["", "## Top failing components", ""]
    lines += [
        f"{n}. {_cell(c.component)}: {c.incidents} incidents, {_duration(c.downtime)} down"
        for n, c in enumerate(report.top_failing, 1)
    ] or ["None: no incidents."]
    lines += [
        "",
        "## Week over week",
        "",
        "| week from | incidents | change | MTTR | availability |",
    ]
    lines += ["|---|---:|---:|---:|---:|"]
    lines += [
        f"| {_iso(w.start)} | {w.incidents} | {'-' if w.change is None else f'{w.change:+d}'} "
        f"| {_duration(w.mttr)} | {_share(w.availability)} |"
        for w in report.trend
    ]
    return lines


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell: one line, pipes escaped."""
    return one_line(text).replace("|", "\\|")
