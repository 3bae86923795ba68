"""Measured strategies in the Prometheus and OpenTelemetry exporters, read generically."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from measured_world import Slots
from resilience import Measurement, Remotes
from resilience.contrib.otel import OTelMetrics
from resilience.contrib.prometheus import PrometheusCollector

Labels = frozenset[tuple[str, str]]


def scrape(collector: PrometheusCollector) -> tuple[dict[str, dict[Labels, float]], dict[str, str]]:
    """Samples by name and label set, and the type of each family, as a scraper sees them."""
    registry = CollectorRegistry()
    registry.register(collector)
    samples: dict[str, dict[Labels, float]] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        types[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples, types


def named(name: str) -> Labels:
    return frozenset({("name", name)})


def test_prometheus_gauges_totals_and_health_of_a_strategy() -> None:
    """Each gauge is a gauge, each total a counter, and healthy is 1 or 0, labelled name."""
    db, api = Slots("db", limit=2), Slots("api")
    db.take(3)
    api.take(1)
    samples, types = scrape(PrometheusCollector(strategies=[db, api]))
    assert samples["resilience_bulkhead_in_use"] == {named("db"): 2, named("api"): 1}
    assert samples["resilience_bulkhead_limit"] == {named("db"): 2, named("api"): 10}
    assert samples["resilience_bulkhead_admitted_total"] == {named("db"): 2, named("api"): 1}
    assert samples["resilience_bulkhead_rejected_total"] == {named("db"): 1, named("api"): 0}
    assert samples["resilience_bulkhead_healthy"] == {named("db"): 0, named("api"): 1}
    assert types["resilience_bulkhead_in_use"] == "gauge"
    assert types["resilience_bulkhead_admitted"] == "counter"


def test_prometheus_reads_a_registry_of_strategies_at_scrape_time() -> None:
    """A Remotes registry given empty shows each remote created later, at the next scrape."""
    remotes = Remotes(lambda remote: Slots(remote, kind="adaptive_limiter"))
    collector = PrometheusCollector(strategies=[remotes])
    assert not any(name.startswith("resilience_adaptive") for name in scrape(collector)[0])
    remotes.get("s3").take(4)
    remotes.get("gcs")
    samples, _ = scrape(collector)
    assert samples["resilience_adaptive_limiter_in_use"] == {named("s3"): 4, named("gcs"): 0}


def test_a_strategy_given_twice_is_read_once() -> None:
    """A strategy given alone and inside its registry is one series, and given twice too."""
    remotes = Remotes(Slots)
    db = remotes.get("db")
    db.take(2)
    collector = PrometheusCollector(strategies=[db, remotes, db])
    assert scrape(collector)[0]["resilience_bulkhead_admitted_total"] == {named("db"): 2}


def test_unsafe_kinds_and_fields_become_metric_name_parts() -> None:
    """A kind or field with characters a metric name cannot hold is made safe, not dropped."""

    class Odd:
        def measurements(self) -> list[Measurement]:
            return [Measurement(kind="Rate-Limiter", name="x", state="", gauges={"tokens left": 3})]

    samples, _ = scrape(PrometheusCollector(strategies=[Odd()]))
    assert samples["resilience_rate_limiter_tokens_left"] == {named("x"): 3}


@pytest.mark.parametrize("bad", [[object()], 3, [Slots("a"), "b"]])
def test_a_source_without_measurements_is_refused(bad: object) -> None:
    """Something that shows no measurements is refused, naming the argument."""
    with pytest.raises(TypeError, match=r"strategies"):
        PrometheusCollector(strategies=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"strategies"):
        OTelMetrics(meter_provider=MeterProvider()).instrument(strategies=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------- OpenTelemetry


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> Iterator[OTelMetrics]:
    provider = MeterProvider(metric_readers=[reader])
    yield OTelMetrics(meter_provider=provider)
    provider.shutdown()


def read(reader: InMemoryMetricReader) -> tuple[dict[str, dict[str, float]], set[str]]:
    """Values by metric and ``resilience.name``, and the metrics that are counters."""
    values: dict[str, dict[str, float]] = {}
    counters: set[str] = set()
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    counters.add(metric.name)
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    name = str((point.attributes or {})["resilience.name"])
                    values.setdefault(metric.name, {})[name] = point.value
    return values, counters


def join_discovery() -> None:
    """Wait for the instruments a collection found new to be made (a thread, at once)."""
    for thread in threading.enumerate():
        if thread.name == "resilience-otel-instruments":
            thread.join(timeout=5)


def test_otel_gauges_and_counters_of_a_strategy(
    metrics: OTelMetrics, reader: InMemoryMetricReader
) -> None:
    """A strategy's gauges are gauges and its totals counters, with resilience.name."""
    db = Slots("db", limit=1)
    db.take(2)
    metrics.instrument(strategies=[db])
    values, counters = read(reader)
    assert values["resilience.bulkhead.in_use"] == {"db": 1}
    assert values["resilience.bulkhead.limit"] == {"db": 1}
    assert values["resilience.bulkhead.healthy"] == {"db": 0}
    assert values["resilience.bulkhead.admitted"] == {"db": 1}
    assert values["resilience.bulkhead.rejected"] == {"db": 1}
    assert {"resilience.bulkhead.admitted", "resilience.bulkhead.rejected"} <= counters
    assert "resilience.bulkhead.in_use" not in counters
    db.take(5)
    assert read(reader)[0]["resilience.bulkhead.rejected"] == {"db": 6}


def test_otel_metrics_first_seen_at_a_collection_follow_from_the_next(
    metrics: OTelMetrics, reader: InMemoryMetricReader
) -> None:
    """A kind first shown after instrument() is reported from the collection after it."""
    remotes = Remotes(Slots)
    metrics.instrument(strategies=[remotes])
    remotes.get("s3").take(1)
    metrics.instrument(strategies=[Slots("warm", kind="warm")])  # makes the instruments
    remotes.get("late").take(2)
    values = read(reader)[0]
    assert values["resilience.bulkhead.in_use"] == {"s3": 1, "late": 2}

    remotes2 = Remotes(lambda remote: Slots(remote, kind="adaptive_limiter"))
    metrics.instrument(strategies=[remotes2])  # empty: nothing to make yet
    remotes2.get("x").take(3)
    first = read(reader)[0]
    assert "resilience.adaptive_limiter.in_use" not in first
    join_discovery()
    assert read(reader)[0]["resilience.adaptive_limiter.in_use"] == {"x": 3}
