"""Reports, post-mortems and the diagnostics bundle, on figures worked out by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    EventRecorder,
    Incident,
    MemoryIncidentStore,
    Resolution,
    Severity,
    diagnostics_bundle,
    incident_report,
    postmortem,
)
from resilience.health import CheckResult, ComponentStatus, HealthRegistry
from resilience.recovery import (
    ActionRecord,
    Breach,
    EntryKind,
    IncidentState,
    IncidentTracker,
    Target,
    TimelineEntry,
    failure_type,
)
from resilience.recovery._diagnostics import bundle_json
from resilience.testing import FakeClock

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
END = 1_700_000_000.0 - (1_700_000_000.0 % WEEK)  # a round number: weeks line up
START = END - WEEK


def incident(
    component: str,
    *,
    at: float,
    took: float | None,
    severity: Severity = Severity.P1,
    resolution: Resolution = Resolution.ESCALATED,
    reason: str = "health check: connection refused",
    breaches: tuple[Breach, ...] = (),
    n: int = 0,
) -> Incident:
    resolved = None if took is None else at + took
    return Incident(
        id=f"{component}-{n}-{at:.0f}",
        component=component,
        reason=reason,
        severity=severity,
        started_at=at,
        ended_at=at + 60,
        resolution=resolution,
        detail="",
        state=IncidentState.OPEN if resolved is None else IncidentState.RESOLVED,
        resolved_at=resolved,
        resolved_by=None if resolved is None else "alice",
        breaches=breaches,
    )


def week_of_incidents() -> list[Incident]:
    db_breach = Breach(Target.RESPONSE, Severity.P0, due_at=START + 900, at=START + 1000)
    return [
        # db: two incidents of 1 h and 3 h; one breach; one recovered automatically.
        incident("db", at=START, took=HOUR, severity=Severity.P0, breaches=(db_breach,)),
        incident(
            "db",
            at=START + DAY,
            took=3 * HOUR,
            resolution=Resolution.RECOVERED,
            reason="timeout: no answer",
            n=1,
        ),
        # cache: one incident still open at the end, 2 h before it.
        incident("cache", at=END - 2 * HOUR, took=None, severity=Severity.P3),
        # before the period, resolved inside it: downtime only, not an incident of the period.
        incident("queue", at=START - HOUR, took=2 * HOUR),
        # after the period: not counted at all.
        incident("db", at=END + 1, took=HOUR, n=2),
    ]


def test_figures_per_component_worked_out_by_hand() -> None:
    """Availability, MTTR, MTBF, success rate and breaches match the arithmetic."""
    report = incident_report(week_of_incidents(), start=START, end=END)

    db = report.component("db")
    assert db.incidents == 2
    assert db.by_severity == {"P0": 1, "P1": 1, "P2": 0, "P3": 0}
    assert db.by_failure_type == {"health check": 1, "timeout": 1}
    assert db.downtime == 4 * HOUR
    assert db.availability == pytest.approx(1 - 4 * HOUR / WEEK)
    assert db.mttr == pytest.approx(2 * HOUR)
    assert db.mtbf == pytest.approx((WEEK - 4 * HOUR) / 2)
    assert db.recovery_success_rate == pytest.approx(0.5)
    assert db.recovered == 1
    assert db.breaches == {"response": 1, "resolution": 0}
    assert db.open == 0

    cache = report.component("cache")
    assert (cache.incidents, cache.open, cache.mttr) == (1, 1, None)
    assert cache.downtime == 2 * HOUR  # open: counted to the period's end

    queue = report.component("queue")
    assert (queue.incidents, queue.downtime, queue.mtbf) == (0, HOUR, None)

    assert report.overall.incidents == 3
    assert report.overall.downtime == 6 * HOUR  # queue and db were down together for 1 h
    assert report.overall.open == 1
    assert [c.component for c in report.top_failing] == ["db", "cache"]


def test_overlapping_incidents_count_once_in_downtime() -> None:
    """Two incidents of one component open at the same time are down once, not twice."""
    both = [
        incident("db", at=START, took=2 * HOUR),
        incident("db", at=START + HOUR, took=2 * HOUR, n=1),
    ]
    report = incident_report(both, start=START, end=END)
    assert report.component("db").downtime == 3 * HOUR


def test_the_trend_compares_each_week_with_the_one_before() -> None:
    """Four weeks back from the end: incidents per week and the change from the week before."""
    incidents = [
        incident("db", at=END - 3 * WEEK + HOUR, took=HOUR),
        incident("db", at=END - 1 * WEEK + HOUR, took=HOUR, n=1),
        incident("db", at=END - 1 * WEEK + DAY, took=HOUR, n=2),
        incident("db", at=END - 1 * WEEK + 2 * DAY, took=HOUR, n=3),
    ]
    report = incident_report(incidents, start=START, end=END, weeks=4)

    assert [w.incidents for w in report.trend] == [0, 1, 0, 3]
    assert [w.change for w in report.trend] == [None, 1, -1, 3]
    assert report.trend[-1].end == END
    assert report.trend[0].start == END - 4 * WEEK


def test_components_without_incidents_are_fully_available() -> None:
    """A named component with no incident is reported at availability 1.0."""
    report = incident_report([], start=START, end=END, components=["search"])
    search = report.component("search")
    assert (search.incidents, search.availability, search.mtbf) == (0, 1.0, None)
    with pytest.raises(KeyError, match="no component 'nope' in the report; it has 'search'"):
        report.component("nope")


def test_json_and_markdown_carry_the_same_figures() -> None:
    """The JSON is the dict; the Markdown has the headline figures and a row per component."""
    report = incident_report(week_of_incidents(), start=START, end=END)

    assert json.loads(report.to_json()) == report.to_dict()
    assert report.to_dict()["top_failing"] == ["db", "cache"]
    text = report.to_markdown()
    assert text.startswith("# Incident report, ")
    assert "- Incidents: 3 (P0 1, P1 1, P2 0, P3 1)" in text
    assert "- Targets breached: response 1, resolution 0" in text
    assert "| db | 2 | 1 | 1 | 0 | 0 | 97.619% | 2.0 h |" in text
    assert "| health check | 2 |" in text
    assert "1. db: 2 incidents, 4.0 h down" in text
    assert "## Week over week" in text


def test_bad_periods_are_refused() -> None:
    """An end not after the start is a clear error."""
    with pytest.raises(ValueError, match="end must be after start"):
        incident_report([], start=END, end=END)


def test_failure_type_is_the_trigger_up_to_its_colon() -> None:
    """'health check: refused' is a 'health check' failure; a custom kind can replace it."""
    one = incident("db", at=START, took=HOUR)
    assert failure_type(one) == "health check"
    report = incident_report([one], start=START, end=END, kind=lambda i: i.severity.value)
    assert report.overall.by_failure_type == {"P1": 1}


spans = st.lists(
    st.tuples(st.integers(0, 100), st.one_of(st.none(), st.integers(0, 60))), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(spans=spans, start=st.integers(0, 80), length=st.integers(1, 80))
def test_downtime_matches_a_plain_model(
    spans: list[tuple[int, int | None]], start: int, length: int
) -> None:
    """Downtime equals the count of whole seconds some incident covered, from a set model."""
    end = start + length
    incidents = [
        incident("db", at=float(at), took=None if took is None else float(took), n=n)
        for n, (at, took) in enumerate(spans)
    ]
    covered: set[int] = set()
    for at, took in spans:
        until = end if took is None else at + took
        covered |= set(range(max(at, start), min(until, end)))

    figures = incident_report(incidents, start=start, end=end, weeks=0).overall

    assert figures.downtime == len(covered)
    assert 0.0 <= figures.availability <= 1.0


# ------------------------------------------------------------------ post-mortem


def test_a_postmortem_from_a_real_lifecycle(fake_clock: FakeClock) -> None:
    """Acknowledged, noted and resolved through the tracker: each step is in the timeline."""
    store = MemoryIncidentStore()
    tracker = IncidentTracker(store, clock=fake_clock, epoch=1_700_000_000.0)
    first = replace(
        incident("payments-db", at=1_700_000_000.0, took=None, severity=Severity.P0),
        actions=(ActionRecord("restart", 1, 1, 1_700_000_000.0, 2.0, ok=False, outcome="refused"),),
        timeline=(TimelineEntry(1_700_000_000.0, EntryKind.DETECTED, "connection refused"),),
        breaches=(Breach(Target.RESPONSE, Severity.P0, 1_700_000_900.0, 1_700_000_960.0),),
    )
    store.add(first)
    fake_clock.advance(1200)
    tracker.acknowledge(first.id, by="alice", text="looking")
    fake_clock.advance(600)
    tracker.note(first.id, by="alice", text="disk full | cleaned")
    fake_clock.advance(600)
    done = tracker.resolve(first.id, by="alice", text="back")

    text = postmortem(done)

    assert text.startswith("# Post-mortem: payments-db, P0, 2023-11-14 22:13:20 UTC")
    assert f"| Incident | `{done.id}` |" in text
    assert "| Acknowledged | alice at 2023-11-14 22:33:20 UTC |" in text
    assert "| State | resolved by alice at 2023-11-14 22:53:20 UTC |" in text
    assert "- Duration: 40 min 0 s" in text
    assert "- Target breached: response target of P0, due 2023-11-14 22:28:20 UTC" in text
    assert "| 2023-11-14 22:33:20 UTC | acknowledged | alice | looking |" in text
    assert "| note | alice | disk full \\| cleaned |" in text  # the pipe is escaped
    assert "| 1 | 1 | restart | failed | 2.0 s | refused |" in text
    assert "## Action items" in text
    assert "- [ ] Find out why the target was missed" in text


def test_a_postmortem_of_an_open_incident_counts_to_now() -> None:
    """Still open: the duration runs to ``now`` and says so."""
    open_one = incident("db", at=START, took=None)
    text = postmortem(open_one, now=START + 90)
    assert "- Duration: 1 min 30 s (still open)" in text
    assert "No automatic action ran." in text


# ------------------------------------------------------------------ diagnostics


def test_the_diagnostics_bundle_has_everything_and_no_secret(fake_clock: FakeClock) -> None:
    """Versions, platform, health, breakers, events and incidents, with every secret masked."""
    recorder = EventRecorder(10, clock=fake_clock)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1), listeners=[recorder])
    breaker = breakers.get("payments")
    with pytest.raises(ConnectionError):
        breaker.call(_refused)
    health = HealthRegistry()
    health.register(
        "db",
        lambda: CheckResult(ComponentStatus.ERROR, "postgresql://app:hunter2@db/x refused"),
    )
    leaked = incident("db", at=START, took=None, reason="login failed: password=hunter2")

    bundle = diagnostics_bundle(
        health=health,
        breakers=breakers,
        incidents=[leaked, incident("db", at=START - DAY, took=HOUR, n=1)],
        events=recorder,
        settings={"smtp": {"host": "mail", "password": "hunter2"}, "api_token": "hunter2"},
        recent=1,
        now=1_700_000_000.0,
    )
    health.close()

    text = json.dumps(bundle)
    assert "hunter2" not in text
    assert bundle["generated_at"] == 1_700_000_000.0
    assert bundle["library"]["name"] == "resilience"
    assert bundle["python"]["version"].count(".") == 2
    assert bundle["platform"]["system"]
    assert bundle["health"]["status"] == "fail"
    assert bundle["health"]["checks"]["db"][0]["output"] == "postgresql://app:***@db/x refused"
    assert [b["name"] for b in bundle["breakers"]] == ["payments"]
    assert bundle["breakers"][0]["state"] == "open"
    assert bundle["events"][-1]["event"].startswith("breaker.")
    assert bundle["incidents"]["kept"] == 2
    assert bundle["incidents"]["open"] == 1
    assert [i["id"] for i in bundle["incidents"]["shown"]] == [leaked.id]  # open + 1 latest
    assert bundle["settings"] == {"smtp": {"host": "mail", "password": "***"}, "api_token": "***"}


def _refused() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


def test_event_recorder_refuses_a_bad_size() -> None:
    """A size below one is refused by name."""
    with pytest.raises(ValueError, match="size must be a whole number"):
        EventRecorder(0)


def test_the_bundle_is_strict_json_even_with_an_infinite_open_period() -> None:
    """A breaker open for ever has no finite retry_after: the bundle says null, not Infinity."""
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=float("inf")))
    with pytest.raises(ConnectionError):
        breakers.get("tape").call(_refused)

    bundle = diagnostics_bundle(breakers=breakers, now=0.0)

    assert bundle["breakers"][0]["retry_after"] is None
    json.loads(bundle_json(bundle), parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> object:
    raise AssertionError(f"{name} is not JSON")
