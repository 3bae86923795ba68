"""Measured strategies on the status page: their rows in the JSON, the stream and the page."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx
import pytest

from browser import browser_page  # noqa: F401 - the fixture
from measured_world import Slots
from resilience import Remotes
from resilience.web import status_app
from servers import uvicorn_serving

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_status_json_has_a_row_per_strategy() -> None:
    """Each measurement is a row with its kind, name, state, health, gauges and totals."""
    db = Slots("db", limit=2)
    remotes = Remotes(lambda remote: Slots(remote, kind="adaptive_limiter"))
    app = status_app(strategies=[db, remotes])
    db.take(3)
    remotes.get("s3").take(1)
    assert app.status()["strategies"] == [
        {
            "kind": "adaptive_limiter",
            "name": "s3",
            "state": "1 of 10 in use",
            "healthy": True,
            "gauges": {"in_use": 1, "limit": 10},
            "totals": {"admitted": 1, "rejected": 0},
        },
        {
            "kind": "bulkhead",
            "name": "db",
            "state": "2 of 2 in use",
            "healthy": False,
            "gauges": {"in_use": 2, "limit": 2},
            "totals": {"admitted": 2, "rejected": 1},
        },
    ]


def test_without_strategies_the_rows_are_null_and_a_strategy_twice_is_one_row() -> None:
    """No strategies is null (the page hides the table); one shown twice is one row."""
    assert status_app().status()["strategies"] is None
    remotes = Remotes(Slots)
    db = remotes.get("db")
    assert [row["name"] for row in status_app(strategies=[db, remotes]).status()["strategies"]] == [
        "db"
    ]


@pytest.mark.parametrize("bad", [[object()], 3])
def test_a_source_without_measurements_is_refused(bad: object) -> None:
    """Something that shows no measurements is refused, naming the argument."""
    with pytest.raises(TypeError, match="strategies"):
        status_app(strategies=bad)  # type: ignore[arg-type]


def test_the_json_is_served() -> None:
    """/api/status, served by uvicorn, carries the strategies' rows."""
    db = Slots("db")
    app = status_app(strategies=[db])
    db.take(1)
    with uvicorn_serving(app, before_stop=app.close) as base:
        rows = httpx.get(f"{base}/api/status").json()["strategies"]
    assert [(r["kind"], r["name"], r["healthy"], r["gauges"]["in_use"]) for r in rows] == [
        ("bulkhead", "db", True, 1)
    ]


def test_page_shows_a_strategy_turning_calls_away(
    browser_page: Page,  # noqa: F811 - the fixture
) -> None:
    """The page lists each strategy and says which one turns calls away, live."""
    from playwright.sync_api import expect  # noqa: PLC0415 - only with a browser

    db = Slots("db", limit=2)
    app = status_app(strategies=[db, Slots("api", kind="rate_limiter")], poll_interval=0.05)
    with uvicorn_serving(app, before_stop=app.close) as base:
        browser_page.goto(f"{base}/")
        badge = browser_page.locator('[data-kind="bulkhead"][data-name="db"]')
        expect(badge).to_have_text("yes", timeout=5000)
        expect(browser_page.locator("#strategies-summary")).to_contain_text("All 2 admitting")
        threading.Thread(target=db.take, args=(2,)).start()
        expect(badge).to_have_text("no", timeout=3000)
        expect(browser_page.locator("#strategies-summary")).to_contain_text("bulkhead db")
        expect(browser_page.locator("#strategies")).to_contain_text("2 of 2 in use")
