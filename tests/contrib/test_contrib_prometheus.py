"""resilience.contrib.prometheus: scraped through prometheus-client's exposition and parser."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metrics_world import fail, traffic, world
from resilience import (
    Backoff,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    HealthRegistry,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.prometheus import PrometheusCollector
from resilience.testing import FakeClock

Labels = frozenset[tuple[str, str]]
STATES = [s.value for s in CircuitState]
BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0",
          "2.5", "5.0", "7.5", "10.0", "+Inf"]  # fmt: skip


def scrape(collector: PrometheusCollector) -> tuple[dict[str, dict[Labels, float]], dict[str, str]]:
    """Samples by name and label set, and the type of each family, as a scraper sees them."""
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    samples: dict[str, dict[Labels, float]] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples, types


def labels(**values: str) -> Labels:
    return frozenset(values.items())


def test_every_metric_scraped() -> None:
    """Every metric, from events and from snapshots, is scraped with its exact labels."""
    w = world()
    w.registry.get("search")  # exists before the collector: it gets the listener too
    collector = PrometheusCollector(
        registry=w.registry, health=w.health, batches=[w.batch], budgets={"payments": w.budget}
    )
    traffic(w, collector.on_retry)
    samples, types = scrape(collector)

    assert samples["resilience_calls_total"] == {
        labels(remote="payments", outcome="success"): 1,
        labels(remote="payments", outcome="ignored"): 1,
        labels(remote="payments", outcome="failure"): 2,
        labels(remote="payments", outcome="rejected"): 1,
        labels(remote="search", outcome="success"): 1,
    }
    assert samples["resilience_call_duration_seconds_count"] == {
        labels(remote="payments", outcome="success"): 1,
        labels(remote="payments", outcome="ignored"): 1,
        labels(remote="payments", outcome="failure"): 2,
        labels(remote="search", outcome="success"): 1,
    }
    sums = samples["resilience_call_duration_seconds_sum"]
    assert {k: round(v, 9) for k, v in sums.items()} == {
        labels(remote="payments", outcome="success"): 0.2,
        labels(remote="payments", outcome="ignored"): 0.0,
        labels(remote="payments", outcome="failure"): 0.0,
        labels(remote="search", outcome="success"): 0.03,
    }
    buckets = samples["resilience_call_duration_seconds_bucket"]
    search = {dict(k)["le"]: v for k, v in buckets.items() if ("remote", "search") in k}
    assert search == {le: float(i >= BOUNDS.index("0.05")) for i, le in enumerate(BOUNDS)}
    payments = {dict(k)["le"]: v for k, v in buckets.items() if ("outcome", "success") in k
                and ("remote", "payments") in k}  # fmt: skip
    assert payments == {le: float(i >= BOUNDS.index("0.25")) for i, le in enumerate(BOUNDS)}
    assert samples["resilience_breaker_transitions_total"] == {
        labels(remote="payments", to="open", **{"from": "closed"}): 1
    }
    assert samples["resilience_breaker_state"] == {
        **{labels(remote="payments", state=s): float(s == "open") for s in STATES},
        **{labels(remote="search", state=s): float(s == "closed") for s in STATES},
    }
    assert samples["resilience_breaker_consecutive_failures"] == {
        labels(remote="payments"): 2,
        labels(remote="search"): 0,
    }
    assert "resilience_breaker_failure_rate" not in samples  # no window: no rate
    assert samples["resilience_retries_total"] == {
        labels(kind="retryable", error_type="ConnectionError"): 1,
        labels(kind="retryable", error_type="TimeoutError"): 1,
    }
    budget = labels(budget="payments")
    assert samples["resilience_retry_budget_rejected_total"] == {budget: 1}
    assert samples["resilience_retry_budget_retries"] == {budget: 0}
    assert samples["resilience_retry_budget_calls"] == {budget: 1}
    assert samples["resilience_retry_budget_allowed"] == {budget: 0}
    assert samples["resilience_batch_items"] == {
        labels(job="import", status="succeeded"): 2,
        labels(job="import", status="failed"): 1,
        labels(job="import", status="deferred"): 1,
        labels(job="import", status="skipped"): 0,
    }
    assert samples["resilience_batch_running"] == {labels(job="import"): 0}
    assert samples["resilience_health_status"] == {
        labels(component="db"): 0,
        labels(component="disk"): 1,
        labels(component="cache"): 2,
    }
    assert types == {
        "resilience_calls": "counter",
        "resilience_call_duration_seconds": "histogram",
        "resilience_breaker_transitions": "counter",
        "resilience_retries": "counter",
        "resilience_breaker_state": "gauge",
        "resilience_breaker_failure_rate": "gauge",
        "resilience_breaker_consecutive_failures": "gauge",
        "resilience_retry_budget_rejected": "counter",
        "resilience_retry_budget_retries": "gauge",
        "resilience_retry_budget_calls": "gauge",
        "resilience_retry_budget_allowed": "gauge",
        "resilience_batch_items": "gauge",
        "resilience_batch_running": "gauge",
        "resilience_health_status": "gauge",
    }


def test_failure_rate_and_a_breaker_outside_a_registry() -> None:
    """A breaker given directly reports its calls and its window's failure rate."""
    rated = CircuitBreaker("rated", BreakerConfig(failure_rate=0.5, window=10))
    collector = PrometheusCollector(breakers=[rated])
    rated.call(lambda: None)
    with pytest.raises(ConnectionError):
        rated.call(fail, ConnectionError("reset"))
    solo = CircuitBreaker("solo")
    solo.add_listener(collector.listener)  # counted, but not read at scrape time
    solo.call(lambda: None)
    samples, types = scrape(collector)
    assert samples["resilience_breaker_failure_rate"] == {labels(remote="rated"): 0.5}
    assert samples["resilience_calls_total"] == {
        labels(remote="rated", outcome="success"): 1,
        labels(remote="rated", outcome="failure"): 1,
        labels(remote="solo", outcome="success"): 1,
    }
    assert {dict(k)["remote"] for k in samples["resilience_breaker_state"]} == {"rated"}
    assert "resilience_health_status" not in types  # no health registry: no family


def test_a_bare_collector_has_only_the_event_metrics() -> None:
    """A collector without sources describes only the metrics counted from events."""
    collector = PrometheusCollector()
    samples, types = scrape(collector)
    assert samples == {}
    assert sorted(types) == [
        "resilience_breaker_transitions",
        "resilience_call_duration_seconds",
        "resilience_calls",
        "resilience_retries",
    ]
    assert [f.name for f in collector.describe()] == [
        "resilience_calls",
        "resilience_call_duration_seconds",
        "resilience_breaker_transitions",
        "resilience_retries",
    ]


def test_registering_twice_is_refused() -> None:
    """Two collectors in one Prometheus registry are refused as duplicated series."""
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(registry=BreakerRegistry()))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(PrometheusCollector())
    registry.register(PrometheusCollector(namespace="other"))  # other names: fine


def test_namespace() -> None:
    """The namespace prefixes every metric name."""
    breaker = CircuitBreaker("payments")
    collector = PrometheusCollector(breakers=[breaker], namespace="myapp")
    breaker.call(lambda: None)
    samples, _ = scrape(collector)
    assert samples["myapp_calls_total"] == {labels(remote="payments", outcome="success"): 1}
    samples, _ = scrape(PrometheusCollector(breakers=[breaker], namespace=""))
    assert "breaker_state" in samples
    for bad in ("9lives", "my-app", "a b"):
        with pytest.raises(ValueError, match="namespace"):
            PrometheusCollector(namespace=bad)
    assert repr(collector) == "PrometheusCollector(namespace='myapp')"


def test_counts_are_exact_under_threads() -> None:
    """Counts stay exact when many threads call at once."""
    registry = BreakerRegistry()
    collector = PrometheusCollector(registry=registry)
    breakers = [registry.get(f"r{i % 2}") for i in range(8)]
    start = threading.Barrier(len(breakers))

    def hammer(breaker: CircuitBreaker) -> None:
        start.wait()
        for _ in range(2000):
            breaker.call(lambda: None)

    threads = [threading.Thread(target=hammer, args=(b,)) for b in breakers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples, _ = scrape(collector)
    assert samples["resilience_calls_total"] == {
        labels(remote="r0", outcome="success"): 8000,
        labels(remote="r1", outcome="success"): 8000,
    }


@given(st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), max_size=40))
def test_histogram_buckets_are_cumulative_counts(durations: list[float]) -> None:
    """The duration histogram's buckets are cumulative and its sum is the durations' sum."""
    clock = FakeClock()
    breaker = CircuitBreaker("timed", clock=clock)
    collector = PrometheusCollector(breakers=[breaker])
    for duration in durations:
        breaker.call(clock.advance, duration)
    samples, _ = scrape(collector)
    if not durations:
        assert "resilience_call_duration_seconds_count" not in samples
        return
    recorded = [b - a for a, b in _pairs(durations)]  # exactly as the breaker measured
    buckets = samples["resilience_call_duration_seconds_bucket"]
    for key, count in buckets.items():
        le = dict(key)["le"]
        bound = float("inf") if le == "+Inf" else float(le)
        assert count == sum(1 for d in recorded if d <= bound)
    assert samples["resilience_call_duration_seconds_count"] == {
        labels(remote="timed", outcome="success"): len(durations)
    }


def _pairs(durations: list[float]) -> list[tuple[float, float]]:
    """(start, end) of each call on a fake clock that only the calls advance."""
    pairs, now = [], 0.0
    for duration in durations:
        end = now + duration
        pairs.append((now, end))
        now = end
    return pairs


def test_on_retry_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A failure inside on_retry is logged once and never raised."""
    collector = PrometheusCollector()
    with caplog.at_level(logging.ERROR, logger="resilience"):
        collector.on_retry(cast("RetryScheduled", object()))
        collector.on_retry(cast("RetryScheduled", object()))
    assert len(caplog.records) == 1  # logged once
    assert "on_retry" in caplog.records[0].getMessage()


def test_bad_sources_are_refused() -> None:
    """Sources of the wrong type are refused with a TypeError naming the type."""
    with pytest.raises(TypeError, match="HealthRegistry"):
        PrometheusCollector(health=cast("HealthRegistry", BreakerRegistry()))
    with pytest.raises(TypeError, match="BatchProcessors"):
        PrometheusCollector(batches=[cast("BatchProcessor", "import")])
    with pytest.raises(TypeError, match="CircuitBreakers"):
        PrometheusCollector(breakers=[cast("CircuitBreaker", BreakerRegistry())])


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without prometheus-client, importing the module names the extra to install."""
    for name in ("prometheus_client", "prometheus_client.metrics_core"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "resilience.contrib.prometheus")
    with pytest.raises(ImportError, match=r"pip install 'resilience-engine\[prometheus\]'"):
        importlib.import_module("resilience.contrib.prometheus")


def test_durations_off() -> None:
    """With durations=False, the duration histogram has no samples."""
    breaker = CircuitBreaker("payments")
    collector = PrometheusCollector(breakers=[breaker], durations=False)
    breaker.call(lambda: None)
    samples, types = scrape(collector)
    assert samples["resilience_calls_total"] == {labels(remote="payments", outcome="success"): 1}
    assert types["resilience_call_duration_seconds"] == "histogram"  # the family, no samples
    assert not any(name.startswith("resilience_call_duration") for name in samples)


class QuotaError(ConnectionError):  # retryable, by its base
    pass


def test_error_types_name_public_modules() -> None:
    """Retry error types are named by their public module, not a private one."""
    collector = PrometheusCollector()
    policy = RetryPolicy(
        attempts=2,
        backoff=Backoff(initial=0),
        wait_for_open_circuit=1.0,  # an open circuit is retried only on request
        clock=FakeClock(),
        on_retry=collector.on_retry,
    )
    rejected = CircuitOpenError("payments", CircuitState.OPEN, 1.0, "down")
    for error in (rejected, QuotaError("slow down"), OSError(11, "again")):
        with pytest.raises(type(error)):
            policy.call(fail, error)
    samples, _ = scrape(collector)
    assert samples["resilience_retries_total"] == {
        labels(kind="retryable", error_type="resilience.CircuitOpenError"): 1,
        labels(kind="retryable", error_type="test_contrib_prometheus.QuotaError"): 1,
        labels(kind="retryable", error_type="BlockingIOError"): 1,  # OSError(EAGAIN)'s class
    }
