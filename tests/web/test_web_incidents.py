"""The status page's open incidents, and its public mode that shows no detail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from browser import browser_page  # noqa: F401 - the fixture
from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CheckResult,
    ComponentStatus,
    HealthRegistry,
    Incident,
    MemoryIncidentStore,
    Resolution,
    Severity,
)
from resilience.recovery import EntryKind, IncidentState, TimelineEntry
from resilience.web import status_app
from servers import uvicorn_serving

if TYPE_CHECKING:
    from playwright.sync_api import Page

SECRET = "hunter2"  # noqa: S105 - fake, on loopback


def incident(
    component: str,
    severity: Severity,
    *,
    state: IncidentState = IncidentState.OPEN,
    at: float = 1_700_000_000.0,
) -> Incident:
    return Incident(
        id=f"{component}-{severity.value}",
        component=component,
        reason=f"health check: login failed, password={SECRET}",
        severity=severity,
        started_at=at,
        ended_at=at + 60,
        resolution=Resolution.ESCALATED,
        detail="every stage failed",
        state=state,
        resolved_at=at + 120 if state is IncidentState.RESOLVED else None,
        timeline=(TimelineEntry(at, EntryKind.DETECTED, "connection refused"),),
    )


@pytest.fixture
def store() -> MemoryIncidentStore:
    kept = MemoryIncidentStore()
    kept.add(incident("search", Severity.P2, at=1_700_000_100.0))
    acked = replace(
        incident("payments", Severity.P0),
        state=IncidentState.ACKNOWLEDGED,
        acknowledged_by="alice",
        acknowledged_at=1_700_000_300.0,
    ).with_entries(TimelineEntry(1_700_000_300.0, EntryKind.ACKNOWLEDGED, "on it", by="alice"))
    kept.add(acked)
    kept.add(incident("mail", Severity.P1, state=IncidentState.RESOLVED))
    return kept


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    registry = HealthRegistry(default_timeout=2)
    registry.register("database", lambda: True)
    registry.register(
        "cache", lambda: CheckResult(ComponentStatus.ERROR, f"redis://:{SECRET}@cache refused")
    )
    registry.run()
    yield registry
    registry.close()


def test_open_incidents_are_listed_most_urgent_first(store: MemoryIncidentStore) -> None:
    """Open and acknowledged incidents are listed, P0 first, with their last update."""
    rows = status_app(incidents=store).status()["incidents"]

    assert [(r["component"], r["severity"], r["state"]) for r in rows] == [
        ("payments", "P0", "acknowledged"),
        ("search", "P2", "open"),
    ]
    assert rows[0]["last_update"] == "acknowledged: on it"
    assert rows[0]["acknowledged_by"] == "alice"
    assert rows[0]["updated_at"] == 1_700_000_300.0
    assert rows[1]["last_update"] == "detected: connection refused"
    assert SECRET not in json.dumps(rows)
    assert rows[0]["reason"] == "health check: login failed, password=***"


def test_without_a_store_incidents_are_null() -> None:
    """No incident store: the incidents section is null, like the other absent sources."""
    assert status_app().status()["incidents"] is None


def test_public_mode_shows_only_service_states(
    store: MemoryIncidentStore, health: HealthRegistry
) -> None:
    """Public: overall and per service, from health, breakers and incidents; not a word of why."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=60))
    registry.get("billing").call(lambda: None)

    status = status_app(registry=registry, health=health, incidents=store, public=True).status()

    assert set(status) == {"title", "public", "generated_at", "poll_interval", "status", "services"}
    assert status["services"] == [
        {"name": "billing", "status": "operational"},
        {"name": "cache", "status": "down"},  # its check errs
        {"name": "database", "status": "operational"},
        {"name": "payments", "status": "down"},  # an open P0
        {"name": "search", "status": "degraded"},  # an open P2
    ]
    assert status["status"] == "degraded"
    text = json.dumps(status)
    for detail in (SECRET, "refused", "login failed", "alice", "P0"):
        assert detail not in text


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ({"a": ComponentStatus.OK, "b": ComponentStatus.OK}, "operational"),
        ({"a": ComponentStatus.OK, "b": ComponentStatus.WARNING}, "degraded"),
        ({"a": ComponentStatus.ERROR, "b": ComponentStatus.ERROR}, "down"),
        ({}, "operational"),
    ],
)
def test_public_overall_status(checks: dict[str, ComponentStatus], expected: str) -> None:
    """Operational when every service is, down when every one is down, else degraded."""
    health = HealthRegistry(default_timeout=2)
    for name, value in checks.items():
        health.register(name, lambda value=value: CheckResult(value, "x"))
    health.run()
    try:
        assert status_app(health=health, public=True).status()["status"] == expected
    finally:
        health.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [({"incidents": object()}, TypeError, "incidents"), ({"public": "yes"}, TypeError, "public")],
)
def test_arguments_are_validated(kwargs: dict[str, Any], error: type[Exception], name: str) -> None:
    """A store that is not one, or a public flag that is not a bool, is refused by name."""
    with pytest.raises(error, match=name):
        status_app(**kwargs)


def test_public_api_over_http(store: MemoryIncidentStore, health: HealthRegistry) -> None:
    """Served by uvicorn, the public /api/status carries the service states and no detail."""
    app = status_app(health=health, incidents=store, public=True)
    with uvicorn_serving(app, before_stop=app.close) as base:
        answer = httpx.get(f"{base}/api/status", timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["public"] is True
    assert {s["name"] for s in body["services"]} == {"cache", "database", "payments", "search"}
    assert SECRET not in answer.text
    assert "incidents" not in body
    assert "events" not in body


# ------------------------------------------------------------------------ browser


def test_page_lists_open_incidents(
    browser_page: Page,  # noqa: F811 - the fixture
    store: MemoryIncidentStore,
) -> None:
    """The operators' page shows each open incident's severity, state and last update."""
    from playwright.sync_api import expect  # noqa: PLC0415 - only with a browser

    app = status_app(incidents=store)
    with uvicorn_serving(app, before_stop=app.close) as base:
        browser_page.goto(f"{base}/")
        row = browser_page.locator('[data-incident="payments-P0"]')
        expect(row.locator('[data-severity="P0"]')).to_have_text("P0", timeout=5000)
        expect(row.locator('[data-state="acknowledged"]')).to_be_visible()
        expect(row).to_contain_text("by alice")
        expect(row).to_contain_text("acknowledged: on it")
        expect(browser_page.locator("#incidents tbody tr")).to_have_count(2)
        expect(browser_page.locator("#public-section")).to_be_hidden()


def test_public_page_shows_services_and_nothing_else(
    browser_page: Page,  # noqa: F811 - the fixture
    store: MemoryIncidentStore,
    health: HealthRegistry,
) -> None:
    """The public page shows overall and per-service states; no operator section, no detail."""
    from playwright.sync_api import expect  # noqa: PLC0415 - only with a browser

    app = status_app(health=health, incidents=store, public=True, title="shop")
    with uvicorn_serving(app, before_stop=app.close) as base:
        browser_page.goto(f"{base}/")
        expect(browser_page.locator("#public-status")).to_have_text("Degraded", timeout=5000)
        expect(browser_page.locator('[data-service="cache"]')).to_have_text("Down")
        expect(browser_page.locator('[data-service="search"]')).to_have_text("Degraded")
        expect(browser_page.locator('[data-service="database"]')).to_have_text("Operational")
        expect(browser_page.locator("#public-summary")).to_have_text("3 of 4 services affected.")
        for section in ("breakers", "health", "incidents", "events"):
            expect(browser_page.locator(f"#{section}-section")).to_be_hidden()
        text = browser_page.locator("body").inner_text()
        assert SECRET not in text
        assert "refused" not in text
