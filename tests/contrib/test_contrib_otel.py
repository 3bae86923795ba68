"""resilience.contrib.otel through the real OpenTelemetry SDK: metrics read back, span events."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from metrics_world import fail, handle, traffic, world
from resilience import (
    Backoff,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    CircuitState,
    HealthRegistry,
    RetryBudget,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.otel import OTelMetrics
from resilience.testing import FakeClock

Attrs = frozenset[tuple[str, object]]
STATES = [s.value for s in CircuitState]


def remote(name: str, **more: str) -> Attrs:
    """The attributes of ``name``'s series, and ``resilience.<key>`` for each of ``more``."""
    pairs = {(f"resilience.{key}", value) for key, value in more.items()}
    return frozenset({("resilience.remote", name), *pairs})


@dataclass
class Reading:
    numbers: dict[str, dict[Attrs, float]]
    histograms: dict[str, dict[Attrs, HistogramDataPoint]]
    units: dict[str, str]
    monotonic: set[str]
    """The metrics that are monotonic sums: counters."""


def read(reader: InMemoryMetricReader) -> Reading:
    data = reader.get_metrics_data()
    reading = Reading({}, {}, {}, set())
    if data is None:  # nothing measured yet
        return reading
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "resilience"
            for metric in scope.metrics:
                reading.units[metric.name] = metric.unit or ""
                if isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    reading.monotonic.add(metric.name)
                for point in metric.data.data_points:
                    key = frozenset((point.attributes or {}).items())
                    if isinstance(point, NumberDataPoint):
                        reading.numbers.setdefault(metric.name, {})[key] = point.value
                    else:
                        assert isinstance(point, HistogramDataPoint)
                        reading.histograms.setdefault(metric.name, {})[key] = point
    return reading


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> Iterator[OTelMetrics]:
    provider = MeterProvider(metric_readers=[reader])
    yield OTelMetrics(meter_provider=provider)
    provider.shutdown()


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_every_metric_read_back(metrics: OTelMetrics, reader: InMemoryMetricReader) -> None:
    """Every metric, from events and from snapshots, reads back with its exact attributes."""
    w = world()
    w.registry.get("search")  # exists before instrument(): it gets the listener too
    metrics.instrument(
        registry=w.registry, health=w.health, batches=[w.batch], budgets={"payments": w.budget}
    )
    traffic(w, metrics.on_retry)
    r = read(reader)

    assert r.numbers["resilience.calls"] == {
        remote("payments", outcome="success"): 1,
        remote("payments", outcome="ignored"): 1,
        remote("payments", outcome="failure"): 2,
        remote("payments", outcome="rejected"): 1,
        remote("search", outcome="success"): 1,
    }
    durations = r.histograms["resilience.call.duration"]
    assert {k: (p.count, round(p.sum, 9)) for k, p in durations.items()} == {
        remote("payments", outcome="success"): (1, 0.2),
        remote("payments", outcome="ignored"): (1, 0.0),
        remote("payments", outcome="failure"): (2, 0.0),
        remote("search", outcome="success"): (1, 0.03),
    }
    search = durations[remote("search", outcome="success")]
    assert search.explicit_bounds[:4] == (0.005, 0.01, 0.025, 0.05)  # seconds, not ms
    assert search.bucket_counts[3] == 1  # 0.025 < 0.03 <= 0.05
    assert r.numbers["resilience.breaker.transitions"] == {
        remote("payments", **{"from": "closed", "to": "open"}): 1
    }
    assert r.numbers["resilience.breaker.state"] == {
        **{remote("payments", state=s): float(s == "open") for s in STATES},
        **{remote("search", state=s): float(s == "closed") for s in STATES},
    }
    assert r.numbers["resilience.breaker.consecutive_failures"] == {
        remote("payments"): 2,
        remote("search"): 0,
    }
    assert "resilience.breaker.failure_rate" not in r.numbers  # no window: no rate
    kind = "resilience.failure.kind"
    assert r.numbers["resilience.retries"] == {
        frozenset({(kind, "retryable"), ("error.type", "ConnectionError")}): 1,
        frozenset({(kind, "retryable"), ("error.type", "TimeoutError")}): 1,
    }
    budget = frozenset({("resilience.budget", "payments")})
    assert {
        name: r.numbers[f"resilience.retry_budget.{name}"]
        for name in ("rejected", "retries", "calls", "allowed")
    } == {
        "rejected": {budget: 1},
        "retries": {budget: 0},
        "calls": {budget: 1},
        "allowed": {budget: 0.0},
    }
    job = ("resilience.job", "import")
    assert r.numbers["resilience.batch.items"] == {
        frozenset({job, ("resilience.status", "succeeded")}): 2,
        frozenset({job, ("resilience.status", "failed")}): 1,
        frozenset({job, ("resilience.status", "deferred")}): 1,
        frozenset({job, ("resilience.status", "skipped")}): 0,
    }
    assert r.numbers["resilience.batch.running"] == {frozenset({job}): 0}
    component = "resilience.component"
    assert r.numbers["resilience.health.status"] == {
        frozenset({(component, "db")}): 0,
        frozenset({(component, "disk")}): 1,
        frozenset({(component, "cache")}): 2,
    }
    assert r.units == {
        "resilience.calls": "{call}",
        "resilience.call.duration": "s",
        "resilience.breaker.transitions": "{transition}",
        "resilience.breaker.state": "1",
        "resilience.breaker.consecutive_failures": "{failure}",
        "resilience.retries": "{retry}",
        "resilience.retry_budget.rejected": "{retry}",
        "resilience.retry_budget.retries": "{retry}",
        "resilience.retry_budget.calls": "{call}",
        "resilience.retry_budget.allowed": "{retry}",
        "resilience.batch.items": "{item}",
        "resilience.batch.running": "1",
        "resilience.health.status": "1",
    }
    assert r.monotonic == {
        "resilience.calls",
        "resilience.breaker.transitions",
        "resilience.retries",
        "resilience.retry_budget.rejected",
    }


def test_failure_rate_of_a_windowed_breaker(
    metrics: OTelMetrics, reader: InMemoryMetricReader
) -> None:
    """A windowed breaker reports its failure rate once its window has calls."""
    breaker = CircuitBreaker("rated", BreakerConfig(failure_rate=0.5, window=10))
    metrics.instrument(breakers=[breaker])
    breaker.call(lambda: None)
    with pytest.raises(ConnectionError):
        breaker.call(fail, ConnectionError("reset"))
    r = read(reader)
    assert r.numbers["resilience.breaker.failure_rate"] == {remote("rated"): 0.5}
    assert r.numbers["resilience.calls"] == {
        remote("rated", outcome="success"): 1,
        remote("rated", outcome="failure"): 1,
    }


def test_span_events(
    metrics: OTelMetrics, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """Transitions and retries become events on the current recording span."""
    provider, exporter = spans
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=clock)
    metrics.instrument(registry=registry)
    breaker = registry.get("payments")
    errors = iter([ConnectionError("reset"), TimeoutError("slow")])

    def flaky() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "ok"

    policy = RetryPolicy(
        attempts=3, backoff=Backoff(initial=0.5, jitter="none"), clock=clock,
        on_retry=metrics.on_retry,
    )  # fmt: skip
    with provider.get_tracer("test").start_as_current_span("checkout"):
        assert policy.call(flaky) == "ok"
        with pytest.raises(ConnectionError):
            breaker.call(fail, ConnectionError("reset"))
    breaker.reset()  # outside any span: no event, and no error

    (span,) = exporter.get_finished_spans()
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert events == [
        (
            "resilience.retry",
            {
                "resilience.attempt": 1,
                "resilience.delay": 0.5,
                "resilience.elapsed": 0.0,
                "resilience.reason": "ConnectionError",
                "resilience.failure.kind": "retryable",
                "error.type": "ConnectionError",
            },
        ),
        (
            "resilience.retry",
            {
                "resilience.attempt": 2,
                "resilience.delay": 1.0,
                "resilience.elapsed": 0.5,
                "resilience.reason": "TimeoutError",
                "resilience.failure.kind": "retryable",
                "error.type": "TimeoutError",
            },
        ),
        (
            "resilience.breaker.transition",
            {
                "resilience.remote": "payments",
                "resilience.from": "closed",
                "resilience.to": "open",
                "resilience.reason": "1 consecutive failures; last: ConnectionError('reset')",
            },
        ),
    ]


def test_span_events_off(
    reader: InMemoryMetricReader, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """With span_events=False, nothing is added to the current span."""
    provider, exporter = spans
    metrics = OTelMetrics(meter_provider=MeterProvider(metric_readers=[reader]), span_events=False)
    breaker = CircuitBreaker("payments", BreakerConfig(failure_threshold=1))
    breaker.add_listener(metrics.listener)
    with provider.get_tracer("test").start_as_current_span("checkout"), pytest.raises(OSError):
        breaker.call(fail, ConnectionError("reset"))
    (span,) = exporter.get_finished_spans()
    assert span.events == ()
    # A breaker attached by hand is counted, but not read at collection time.
    r = read(reader)
    assert r.numbers["resilience.breaker.transitions"] == {
        remote("payments", **{"from": "closed", "to": "open"}): 1
    }
    assert "resilience.breaker.state" not in r.numbers


def test_sources_are_attached_once(metrics: OTelMetrics, reader: InMemoryMetricReader) -> None:
    """A registry or breaker given several times is listened to once."""
    registry = BreakerRegistry()
    breaker = CircuitBreaker("solo")
    for _ in range(3):
        metrics.instrument(registry=registry, breakers=[breaker])
    registry.get("a").call(lambda: None)
    breaker.call(lambda: None)
    assert read(reader).numbers["resilience.calls"] == {
        remote("a", outcome="success"): 1,
        remote("solo", outcome="success"): 1,
    }


def test_a_remote_in_two_sources_is_read_once(
    metrics: OTelMetrics, reader: InMemoryMetricReader
) -> None:
    """A remote in both a registry and the breakers is reported once."""
    registry = BreakerRegistry()
    registry.get("a")
    metrics.instrument(registry=registry, breakers=[CircuitBreaker("a"), CircuitBreaker("b")])
    states = read(reader).numbers["resilience.breaker.state"]
    assert len(states) == 2 * len(STATES)


def test_before_any_run_a_batch_reports_nothing(
    metrics: OTelMetrics, reader: InMemoryMetricReader
) -> None:
    """A batch that never ran and an empty health registry report no samples."""
    metrics.instrument(batches=[BatchProcessor("idle", handle)], health=HealthRegistry())
    r = read(reader)
    assert "resilience.batch.items" not in r.numbers
    assert "resilience.health.status" not in r.numbers


def test_bad_sources_are_refused(metrics: OTelMetrics) -> None:
    """Sources of the wrong type are refused with a TypeError naming the type."""
    with pytest.raises(TypeError, match="BreakerRegistry"):
        metrics.instrument(registry=cast("BreakerRegistry", object()))
    with pytest.raises(TypeError, match="RetryBudget"):
        metrics.instrument(budgets={"payments": cast("RetryBudget", 3)})
    with pytest.raises(TypeError, match="map a name"):
        metrics.instrument(budgets=cast("dict[str, RetryBudget]", [RetryBudget()]))
    metrics.instrument(budgets={"payments": RetryBudget()})
    with pytest.raises(ValueError, match="already named 'payments'"):
        metrics.instrument(budgets={"payments": RetryBudget()})


def test_on_retry_never_raises(metrics: OTelMetrics, caplog: pytest.LogCaptureFixture) -> None:
    """A failure inside on_retry is logged once and never raised."""
    with caplog.at_level(logging.ERROR, logger="resilience"):
        metrics.on_retry(cast("RetryScheduled", object()))
        metrics.on_retry(cast("RetryScheduled", object()))
    assert len(caplog.records) == 1  # logged once
    assert "on_retry" in caplog.records[0].getMessage()


def test_the_global_provider_by_default() -> None:
    """Without a meter provider the global one is used, and calls still succeed."""
    metrics = OTelMetrics()  # the API's no-op provider, unless the application set one
    breaker = CircuitBreaker("payments")
    metrics.instrument(breakers=[breaker])
    breaker.call(lambda: None)
    assert repr(metrics) == "OTelMetrics()"


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OpenTelemetry, importing the module names the extra to install."""
    for name in ("opentelemetry", "opentelemetry.metrics", "opentelemetry.trace"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "resilience.contrib.otel")
    with pytest.raises(ImportError, match=r"pip install 'resilience-engine\[otel\]'"):
        importlib.import_module("resilience.contrib.otel")


def test_durations_off(reader: InMemoryMetricReader) -> None:
    """With durations=False, no duration histogram is recorded."""
    metrics = OTelMetrics(meter_provider=MeterProvider(metric_readers=[reader]), durations=False)
    breaker = CircuitBreaker("payments")
    metrics.instrument(breakers=[breaker])
    breaker.call(lambda: None)
    r = read(reader)
    assert r.numbers["resilience.calls"] == {remote("payments", outcome="success"): 1}
    assert "resilience.call.duration" not in r.histograms
