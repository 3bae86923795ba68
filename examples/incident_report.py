"""A month of incidents, reviewed: the report, a post-mortem and a diagnostics bundle (scenario 3).

Four weeks of made-up but plausible incidents of three components are kept in an
SQLite incident store, as a RecoveryManager would keep them. The report of the month
gives each component's MTTR, MTBF, availability and recovery success rate, the targets
missed and the week-over-week trend; the worst incident gets a post-mortem skeleton;
and ``python -m resilience report`` reads the same store from the command line.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from resilience import (
    Incident,
    Resolution,
    Severity,
    diagnostics_bundle,
    incident_report,
    postmortem,
)
from resilience.recovery import Breach, EntryKind, IncidentState, Target, TimelineEntry
from resilience.stores import SQLiteIncidentStore

HOUR, DAY = 3600.0, 86400.0
END = 1_700_006_400.0  # 2023-11-15 00:00 UTC
START = END - 28 * DAY
REASONS = {
    "payments-db": "database connection: connection refused",
    "search": "api timeout: no answer within 5 s",
    "mail": "api error: HTTP 503",
}


def month(rng: random.Random) -> list[Incident]:
    """Incidents getting rarer over the month, as fixes land; a few miss their target."""
    made = []
    for n in range(40):
        component = rng.choice(list(REASONS))
        at = START + (n / 40) ** 1.8 * 28 * DAY + rng.uniform(0, HOUR)
        recovered = rng.random() < 0.6
        took = rng.uniform(60, 600) if recovered else rng.uniform(0.5 * HOUR, 5 * HOUR)
        severity = Severity.P0 if component == "payments-db" else rng.choice(list(Severity)[1:])
        breaches: tuple[Breach, ...] = ()
        if not recovered and took > 2 * HOUR and severity is Severity.P0:
            breaches = (Breach(Target.RESOLUTION, severity, at + 2 * HOUR, at + 2 * HOUR + 60),)
        made.append(
            Incident(
                id=f"inc-{n:02d}",
                component=component,
                reason=REASONS[component],
                severity=severity,
                started_at=at,
                ended_at=at + min(took, 120),
                resolution=Resolution.RECOVERED if recovered else Resolution.ESCALATED,
                detail="recovered in stage 1" if recovered else "every stage failed",
                state=IncidentState.RESOLVED,
                resolved_at=at + took,
                resolved_by="recovery" if recovered else "oncall",
                breaches=breaches,
                timeline=(
                    TimelineEntry(at, EntryKind.DETECTED, REASONS[component]),
                    TimelineEntry(
                        at + took,
                        EntryKind.RESOLVED,
                        "healthy again",
                        by="recovery" if recovered else "oncall",
                    ),
                ),
            )
        )
    return made


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "incidents.db"
        store = SQLiteIncidentStore(path)
        for incident in month(random.Random(7)):
            store.add(incident)
        kept = store.incidents()
        store.close()

        report = incident_report(kept, start=START, end=END)
        print(report.to_markdown())
        if report.trend[0].incidents <= report.trend[-1].incidents:
            raise SystemExit("the made-up month was meant to get better")

        worst = max(kept, key=lambda i: (i.resolved_at or END) - i.started_at)
        print(postmortem(worst))

        bundle = diagnostics_bundle(incidents=kept, recent=3)
        print("diagnostics bundle:", ", ".join(sorted(bundle)))
        print(json.dumps(bundle["incidents"]["shown"][-1], indent=2)[:300], "...")

        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "resilience",
                "report",
                "--store",
                str(path),
                "--until",
                "2023-11-15",
                "--days",
                "7",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        last_week = json.loads(done.stdout)
        print(
            "\nthe last week, from the command line:",
            last_week["overall"]["incidents"],
            "incidents,",
            f"availability {last_week['overall']['availability']:.3%}",
        )


if __name__ == "__main__":
    main()
