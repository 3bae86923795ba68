"""A hedge and a chaos strategy in the Prometheus exporter and on the status page."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from resilience import Hedge
from resilience.chaos import InjectFault
from resilience.contrib.prometheus import PrometheusCollector
from resilience.testing import FakeClock
from resilience.web import status_app


def scrape(collector: PrometheusCollector) -> dict[str, float]:
    """Each sample labelled name=..., by metric name."""
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if "name" in sample.labels
    }


def hedged_once(clock: FakeClock) -> Hedge:
    """A hedge that ran two calls: one answered at once, one won by its hedge."""
    hedge = Hedge(delay=0.05, clock=clock, name="search")
    runs: list[int] = []

    async def search() -> str:
        runs.append(1)
        if len(runs) == 2:  # the second call's first attempt hangs
            await asyncio.Event().wait()
        return "hit"

    async def main() -> None:
        await hedge.acall(search)
        await hedge.acall(search)

    asyncio.run(main())
    return hedge


def test_prometheus_shows_hedges_apart_from_calls_and_an_enabled_drill() -> None:
    """Hedge totals and delay, and a chaos strategy's injections and health, are exported."""
    hedge = hedged_once(FakeClock())
    fault = InjectFault(ConnectionError, rate=1.0, switch=True, name="drill")
    for _ in range(3):
        with contextlib.suppress(ConnectionError):
            fault.call(lambda: None)
    samples = scrape(PrometheusCollector(strategies=[hedge, fault]))
    assert samples["resilience_hedge_calls_total"] == 2
    assert samples["resilience_hedge_hedges_total"] == 1
    assert samples["resilience_hedge_hedge_wins_total"] == 1
    assert samples["resilience_hedge_cancelled_total"] == 1
    assert samples["resilience_hedge_delay_seconds"] == 0.05
    assert samples["resilience_hedge_healthy"] == 1
    assert samples["resilience_chaos_injected_total"] == 3
    assert samples["resilience_chaos_rolled_total"] == 3
    assert samples["resilience_chaos_enabled"] == 1
    assert samples["resilience_chaos_healthy"] == 0  # a drill on shows as unhealthy


def test_the_status_page_has_a_row_for_each() -> None:
    """The status JSON lists the hedge and the chaos strategy, the drill off and healthy."""
    hedge = hedged_once(FakeClock())
    fault = InjectFault(ConnectionError, rate=0.5, name="drill")
    rows = status_app(strategies=[hedge, fault]).status()["strategies"]
    assert [(r["kind"], r["name"], r["healthy"]) for r in rows] == [
        ("chaos", "drill", True),
        ("hedge", "search", True),
    ]
    assert rows[0]["state"] == "off"
    assert rows[1]["totals"] == {"calls": 2, "hedges": 1, "hedge_wins": 1, "cancelled": 1}
