"""A CachedFallback in the Prometheus exporter and on the status page, read generically."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from resilience import CachedFallback, Remotes
from resilience.contrib.prometheus import PrometheusCollector
from resilience.testing import FakeClock
from resilience.web import status_app


def _down(symbol: str) -> float:
    raise ConnectionError(symbol)


def _quotes(clock: FakeClock) -> CachedFallback:
    """A cache that stored ACME, then served it once and missed INIT once."""
    cache = CachedFallback(name="quotes", clock=clock)
    cache.call(lambda _: 101.5, "ACME")
    cache.call(_down, "ACME")
    with contextlib.suppress(ConnectionError):
        cache.call(_down, "INIT")
    return cache


def test_prometheus_shows_entries_served_missed_and_health(fake_clock: FakeClock) -> None:
    """resilience_cached_fallback_* gauges and counters, labelled with the cache's name."""
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(strategies=[_quotes(fake_clock)]))
    samples = {
        sample.name: (sample.labels, sample.value)
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if sample.name.startswith("resilience_cached_fallback")
    }
    label = {"name": "quotes"}
    assert samples["resilience_cached_fallback_entries"] == (label, 1.0)
    assert samples["resilience_cached_fallback_max_entries"] == (label, 1024.0)
    assert samples["resilience_cached_fallback_served_total"] == (label, 1.0)
    assert samples["resilience_cached_fallback_missed_total"] == (label, 1.0)
    assert samples["resilience_cached_fallback_healthy"] == (label, 0.0)


def test_status_page_has_a_row_per_remote_cache(fake_clock: FakeClock) -> None:
    """A Remotes of caches shows one row per remote; a cache whose calls fail is not healthy."""
    caches = Remotes(lambda name: CachedFallback(name=name, clock=fake_clock))
    caches.get("gdrive").call(str, 1)
    app = status_app(strategies=[caches, _quotes(fake_clock)])
    rows = {row["name"]: row for row in app.status()["strategies"]}
    assert rows["gdrive"]["kind"] == "cached_fallback"
    assert rows["gdrive"]["healthy"] is True
    assert rows["gdrive"]["state"] == "1 of 1024 cached"
    assert rows["quotes"]["healthy"] is False
    assert rows["quotes"]["totals"] == {"served": 1, "missed": 1}
    assert "nothing fresh to serve" in rows["quotes"]["state"]
