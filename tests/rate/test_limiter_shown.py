"""A RateLimiter in the Prometheus exporter and on the status page, read as any Measured."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from resilience import RateLimiter, Remotes
from resilience.contrib.prometheus import PrometheusCollector
from resilience.testing import FakeClock
from resilience.web import status_app


def samples(collector: PrometheusCollector) -> dict[str, dict[str, float]]:
    """Sample values by metric name and the ``name`` label, as a scraper sees them."""
    registry = CollectorRegistry()
    registry.register(collector)
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[sample.labels.get("name", "")] = sample.value
    return found


def test_prometheus_shows_tokens_rate_and_totals(fake_clock: FakeClock) -> None:
    """Tokens, burst and rate are gauges; admitted, delayed and rejected are counters."""
    api = RateLimiter("api", rate=2, burst=2, max_wait=1, clock=fake_clock)
    per_remote = Remotes(lambda name: RateLimiter(name, rate=5, clock=fake_clock))
    api.acquire(2)
    api.acquire()
    assert not api.try_acquire()
    per_remote.get("s3").acquire()
    found = samples(PrometheusCollector(strategies=[api, per_remote]))
    assert found["resilience_rate_limiter_tokens"] == {"api": 0.0, "s3": 4.0}
    assert found["resilience_rate_limiter_burst"] == {"api": 2.0, "s3": 5.0}
    assert found["resilience_rate_limiter_rate_per_second"] == {"api": 2.0, "s3": 5.0}
    assert found["resilience_rate_limiter_admitted_total"] == {"api": 2.0, "s3": 1.0}
    assert found["resilience_rate_limiter_delayed_total"] == {"api": 1.0, "s3": 0.0}
    assert found["resilience_rate_limiter_rejected_total"] == {"api": 1.0, "s3": 0.0}
    assert found["resilience_rate_limiter_healthy"] == {"api": 0.0, "s3": 1.0}


def test_the_status_page_has_a_row_for_it(fake_clock: FakeClock) -> None:
    """The status JSON lists the limiter with its state words, health, gauges and totals."""
    api = RateLimiter("api", rate=2, burst=2, clock=fake_clock)
    app = status_app(strategies=[api])
    api.acquire()
    assert app.status()["strategies"] == [
        {
            "kind": "rate_limiter",
            "name": "api",
            "state": "1.0 of 2 tokens, 2 per 1 s",
            "healthy": True,
            "gauges": {"tokens": 1.0, "burst": 2.0, "rate_per_second": 2.0},
            "totals": {"admitted": 1, "delayed": 0, "rejected": 0},
        }
    ]
